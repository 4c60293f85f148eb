//! Friendly policy ids (seed 002): lowercase letters, digits, `.`, `-`, `_`; starts
//! with a letter or digit; at most 64 characters; never a 24-hex string, which the
//! server would take for an ObjectId (`_id`) and resolve to a different policy.

pub const MAX_LEN: usize = 64;

/// `Ok(())` or the one most useful complaint about `id`.
pub fn validate(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    let len = id.chars().count();
    if len > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} characters (got {len})"));
    }
    if let Some((pos, c)) = id.char_indices().find(|(_, c)| !allowed(*c)) {
        let what = if c.is_ascii_uppercase() {
            "uppercase letters are not allowed".to_string()
        } else {
            format!("invalid character {c:?} at position {}", pos + 1)
        };
        return Err(format!(
            "{what} in {id:?}; use lowercase letters, digits, '.', '-' and '_'"
        ));
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(format!(
            "{id:?} must start with a lowercase letter or a digit"
        ));
    }
    // `GET /api/portal/policies/search` is the search endpoint, so a policy with this
    // id could be created but never read back.
    if id == "search" {
        return Err(
            "\"search\" is reserved by the policy API (/api/portal/policies/search); choose another id"
                .into(),
        );
    }
    if id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{id:?} looks like an ObjectId (24 hex characters), which the server resolves as an `_id`; choose a descriptive id such as \"gold\""
        ));
    }
    Ok(())
}

fn allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids() {
        for id in [
            "gold",
            "free-tier",
            "rate-limit-v2",
            "a",
            "0",
            "9lives",
            "v1.2_beta-3",
            "trailing-",
            "a..b",
            "search-v2",
            &"a".repeat(64),
            // 24 characters but not all hex: fine.
            "deadbeefdeadbeefdeadbeeg",
            // 23 and 25 hex characters: not an ObjectId.
            "deadbeefdeadbeefdeadbee",
            "deadbeefdeadbeefdeadbeefd",
        ] {
            assert_eq!(validate(id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn invalid_ids_with_messages() {
        let long = "a".repeat(65);
        let cases: Vec<(&str, String)> = vec![
            ("", "must not be empty".into()),
            (&long, "must be at most 64 characters (got 65)".into()),
            ("Gold", "uppercase letters are not allowed in \"Gold\"; use lowercase letters, digits, '.', '-' and '_'".into()),
            ("-gold", "\"-gold\" must start with a lowercase letter or a digit".into()),
            (".gold", "\".gold\" must start with a lowercase letter or a digit".into()),
            ("_gold", "\"_gold\" must start with a lowercase letter or a digit".into()),
            ("gold plan", "invalid character ' ' at position 5 in \"gold plan\"; use lowercase letters, digits, '.', '-' and '_'".into()),
            ("gold/x", "invalid character '/' at position 5 in \"gold/x\"; use lowercase letters, digits, '.', '-' and '_'".into()),
            ("gold~", "invalid character '~' at position 5 in \"gold~\"; use lowercase letters, digits, '.', '-' and '_'".into()),
            ("göld", "invalid character 'ö' at position 2 in \"göld\"; use lowercase letters, digits, '.', '-' and '_'".into()),
            ("507f1f77bcf86cd799439011", "\"507f1f77bcf86cd799439011\" looks like an ObjectId (24 hex characters), which the server resolves as an `_id`; choose a descriptive id such as \"gold\"".into()),
            ("search", "\"search\" is reserved by the policy API (/api/portal/policies/search); choose another id".into()),
            ("507F1F77BCF86CD799439011", "uppercase letters are not allowed in \"507F1F77BCF86CD799439011\"; use lowercase letters, digits, '.', '-' and '_'".into()),
        ];
        for (id, want) in cases {
            assert_eq!(validate(id), Err(want), "{id:?}");
        }
    }
}
