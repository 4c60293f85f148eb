//! The commands. Each returns `Err(Failure)` instead of printing and exiting, so the
//! exit code is decided in one place (`finish` in the module root).

use super::apis::{self, ApiInfo};
use super::args::{ConfigArgs, ConfigCommand, PolicyArgs, PolicyCommand};
use super::client::{segment, Client, Reply};
use super::env::{self, ConfigFile, Environment};
use super::failure::Failure;
use super::schema::{self, Checked, PolicyFile, Problem};
use super::wire;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::path::Path;

/// A line for humans on stderr. Write errors (a closed stderr) are ignored rather
/// than turned into panics.
pub fn note(s: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{s}");
}

/// Data on stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

fn out_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::Io(format!("cannot encode JSON: {e}")))?;
    out(&format!("{text}\n"));
    Ok(())
}

/// Server- or user-supplied text made safe for a terminal: control characters are
/// shown escaped instead of being interpreted.
pub fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        s.to_string()
    }
}

fn process_env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(format!("cannot start the runtime: {e}")))
}

fn connect(url: Option<&str>) -> Result<Client, Failure> {
    Ok(Client::new(env::target(url, &process_env)?))
}

pub fn policy(args: PolicyArgs) -> Result<(), Failure> {
    let url = args.url.as_deref();
    match args.command {
        PolicyCommand::Init { id, name, dir } => init(&id, &name, &dir),
        PolicyCommand::Apply { file, json } => {
            let (source, text) = read_input(&file)?;
            apply_file(url, &source, &text, json)
        }
        PolicyCommand::List { page, json } => {
            let client = connect(url)?;
            runtime()?.block_on(list(&client, page, json))
        }
        PolicyCommand::Get { id, json } => {
            check_arg_id(&id)?;
            let client = connect(url)?;
            runtime()?.block_on(get(&client, &id, json))
        }
        PolicyCommand::Delete { id, yes, json } => {
            check_arg_id(&id)?;
            let client = connect(url)?;
            delete(&client, &id, yes, json)
        }
    }
}

pub fn config(args: ConfigArgs) -> Result<(), Failure> {
    let dir = env::config_dir(&process_env)?;
    match args.command {
        ConfigCommand::Add {
            name,
            url,
            secret_env,
        } => config_add(&dir, &name, &url, &secret_env),
        ConfigCommand::Use { name } => config_use(&dir, &name),
        ConfigCommand::List { json } => config_list(&dir, json),
    }
}

/// Ids on the command line may be `_id`s of policies created elsewhere, so only the
/// shape that could never work is refused here.
fn check_arg_id(id: &str) -> Result<(), Failure> {
    if id.trim().is_empty() || id.chars().any(char::is_control) {
        return Err(Failure::Usage(format!("invalid policy id {:?}", clean(id))));
    }
    Ok(())
}

fn invalid(source: &str, problems: &[Problem]) -> Failure {
    Failure::Invalid(problem_lines(source, problems, None))
}

/// One line per problem, then `note` (if any), then the count.
fn problem_lines(source: &str, problems: &[Problem], note: Option<String>) -> Vec<String> {
    let mut lines: Vec<String> = problems.iter().map(|p| clean(&p.render(source))).collect();
    lines.extend(note);
    lines.push(format!(
        "{} problem{} found; nothing was applied",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    ));
    lines
}

/// The text of a single-message failure (what `finish` prints after `error: `).
fn reason(f: &Failure) -> String {
    match f {
        Failure::Invalid(lines) => lines.join("; "),
        Failure::Usage(m)
        | Failure::NotFound(m)
        | Failure::Network(m)
        | Failure::Auth(m)
        | Failure::Server(m)
        | Failure::Io(m) => m.clone(),
    }
}

/// The gateway's API list was needed but could not be had (no URL, unreachable,
/// refused): the file's own problems if it has any (exit 2), with a line saying the
/// selectors went unchecked and why; else `why` itself, as before.
fn unchecked(source: &str, problems: &[Problem], why: Failure) -> Failure {
    if problems.is_empty() {
        return why;
    }
    let note = format!(
        "{source}: access selectors were not checked against the gateway: {}",
        clean(&reason(&why))
    );
    Failure::Invalid(problem_lines(source, problems, Some(note)))
}

fn read_input(file: &str) -> Result<(String, String), Failure> {
    let mut bytes = Vec::new();
    let source = if file == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::Usage(format!("cannot read stdin: {e}")))?;
        "<stdin>".to_string()
    } else {
        bytes =
            std::fs::read(file).map_err(|e| Failure::Usage(format!("cannot read {file}: {e}")))?;
        file.to_string()
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::Usage(format!("{source}: not UTF-8 text")))?;
    Ok((source, text))
}

fn unexpected(what: &str, r: &Reply) -> Failure {
    Failure::Server(format!(
        "{what}: unexpected answer {}: {}",
        r.status.as_u16(),
        clean(&r.message())
    ))
}

// ---------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------

/// The file `init` writes. Valid as it is (apply then only fails on the placeholder
/// API name, with suggestions from the live list).
pub fn scaffold(id: &str, name: &str) -> String {
    let (id_text, quoted) = (yaml_string(id), yaml_string(name));
    format!(
        "\
# Policy {id}. Apply it with: tollgate policy apply -f policies/{id}.yaml
# Durations: an integer with an optional unit s, m, h or d (60, 60s, 1m, 24h, 30d);
# 0 = disabled / no expiry.
id: {id_text}
name: {quoted}
tags: []
# Per key: at most `requests` requests per `per`. Remove the block (or set per to 0)
# for no rate limit.
rateLimit:
  requests: 100
  per: 1m
# Per key: at most `limit` requests per `period` (period 0: the quota never renews).
# Remove the block for no quota.
quota:
  limit: 10000
  period: 30d
# How long keys created with this policy live; \"0\" = they never expire.
keyTTL: \"0\"
# The APIs keys get. Each entry uses exactly one selector:
#   name: <API name> | listenPath: /path/ | tags: [a, b] (every API with all of them)
#   | id: <api_id>
# versions defaults to the API's default version.
access:
  - name: my-api
    versions: [Default]
"
    )
}

/// `s` as a YAML scalar that reads back as the same string: plain when YAML agrees
/// (`gold`), double-quoted otherwise (`"y"` is a boolean, `"123"` an integer when plain).
fn yaml_string(s: &str) -> String {
    let plain = super::yaml::parse(&format!("k: {s}\n")).is_ok_and(|doc| match doc.value {
        super::yaml::Value::Map(m) => match m.as_slice() {
            [(_, _, v)] => v.value == super::yaml::Value::Str(s.to_string()),
            _ => false,
        },
        _ => false,
    });
    if plain {
        s.to_string()
    } else {
        // A JSON string is a valid YAML double-quoted scalar, whatever it holds.
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

fn init(id: &str, name: &str, dir: &Path) -> Result<(), Failure> {
    super::ident::validate(id).map_err(|e| Failure::Usage(format!("invalid --id: {e}")))?;
    if name.trim().is_empty() {
        return Err(Failure::Usage("--name must not be empty".into()));
    }
    // `policies/gold.yaml` rather than `./policies/gold.yaml` in messages.
    let policies = if dir == Path::new(".") {
        Path::new("policies").to_path_buf()
    } else {
        dir.join("policies")
    };
    std::fs::create_dir_all(&policies)
        .map_err(|e| Failure::Io(format!("cannot create {}: {e}", policies.display())))?;
    let path = policies.join(format!("{id}.yaml"));
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::Usage(format!(
                "{} already exists; not overwriting it",
                path.display()
            )))
        }
        Err(e) => {
            return Err(Failure::Io(format!(
                "cannot create {}: {e}",
                path.display()
            )))
        }
    };
    f.write_all(scaffold(id, name).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", path.display())))?;
    note(&format!(
        "created {}; edit it, then run: tollgate policy apply -f {}",
        path.display(),
        path.display()
    ));
    Ok(())
}

// ---------------------------------------------------------------------------
// apply
// ---------------------------------------------------------------------------

/// Every API on the gateway (all pages).
async fn fetch_apis(client: &Client) -> Result<Vec<ApiInfo>, Failure> {
    let first = client.call(Method::GET, "/api/apis", None).await?;
    if first.status == StatusCode::NOT_FOUND {
        return Err(Failure::Server(format!(
            "{} has no /api/apis endpoint; is it a tollgate gateway's control listener?",
            client.url()
        )));
    }
    if first.status != StatusCode::OK {
        return Err(unexpected("GET /api/apis", &first));
    }
    let mut out = ApiInfo::from_list(&first.body);
    let pages = first.body.get("pages").and_then(Value::as_u64).unwrap_or(1);
    // Bounded so a confused server cannot keep the CLI paging forever.
    for p in 2..=pages.min(1000) {
        let r = client
            .call(Method::GET, &format!("/api/apis?p={p}"), None)
            .await?;
        if r.status != StatusCode::OK {
            return Err(unexpected("GET /api/apis", &r));
        }
        let more = ApiInfo::from_list(&r.body);
        if more.is_empty() {
            break;
        }
        out.extend(more);
    }
    Ok(out)
}

/// The policy `id` resolves to (friendly id first, then `_id`), or `None`.
async fn fetch_policy(client: &Client, id: &str) -> Result<Option<Value>, Failure> {
    let path = format!("/api/portal/policies/{}", segment(id));
    let r = client.call(Method::GET, &path, None).await?;
    match r.status {
        // The answer must be the policy asked for: a route such as `/search` could
        // otherwise shadow a policy with that id and be taken for it.
        StatusCode::OK if r.body.is_object() => {
            let is = |k: &str| r.body.get(k).and_then(Value::as_str) == Some(id);
            if is("id") || is("_id") {
                Ok(Some(r.body))
            } else {
                Err(Failure::Server(format!(
                    "GET {path}: the gateway answered with something other than policy {:?}",
                    clean(id)
                )))
            }
        }
        StatusCode::NOT_FOUND => Ok(None),
        _ => Err(unexpected(&format!("GET {path}"), &r)),
    }
}

fn server_problems(source: &str, what: &str, r: &Reply) -> Failure {
    let mut lines: Vec<String> = r
        .errors()
        .iter()
        .map(|e| format!("{source}: the gateway rejected the policy: {}", clean(e)))
        .collect();
    lines.push(format!(
        "{what} refused ({}); nothing was applied",
        r.status.as_u16()
    ));
    Failure::Invalid(lines)
}

/// `apply -f`: every problem in one pass. The file's own problems (schema, durations,
/// id) and the resolution problems of its well-formed selectors (which need the
/// gateway's API list, fetched once) are reported together, exit 2; nothing is
/// written unless there are none. A file with no selector worth resolving is
/// reported without a network call, and when the API list cannot be had the file's
/// own problems are still reported (exit 2), saying so.
fn apply_file(url: Option<&str>, source: &str, text: &str, json: bool) -> Result<(), Failure> {
    let checked = schema::check(text);
    if checked.selectors.is_empty() && !checked.problems.is_empty() {
        return Err(invalid(source, &checked.problems));
    }
    let client = connect(url).map_err(|f| unchecked(source, &checked.problems, f))?;
    let rt = runtime().map_err(|f| unchecked(source, &checked.problems, f))?;
    rt.block_on(apply(&client, checked, source, json))
}

async fn apply(client: &Client, checked: Checked, source: &str, json: bool) -> Result<(), Failure> {
    let apis = match fetch_apis(client).await {
        Ok(apis) => apis,
        Err(f) => return Err(unchecked(source, &checked.problems, f)),
    };
    let (resolved, resolution) =
        apis::resolve_each(checked.selectors.iter().map(|(i, e)| (*i, e)), &apis);
    let mut problems = checked.problems;
    problems.extend(resolution);
    problems.extend(wire::org_problem(&resolved));
    let file = match &checked.policy {
        Some(file) if problems.is_empty() => file,
        _ => return Err(invalid(source, &problems)),
    };
    let desired = wire::to_wire(file, &resolved).map_err(|ps| invalid(source, &ps))?;

    if let Some(existing) = fetch_policy(client, &file.id).await? {
        return update(client, file, source, &existing, &desired, json).await;
    }
    let r = client
        .call(Method::POST, "/api/portal/policies", Some(&desired))
        .await?;
    match r.status {
        StatusCode::OK | StatusCode::CREATED => {
            note(&format!("created policy {}", file.id));
            if json {
                out_json(&r.body)?;
            }
            Ok(())
        }
        // Created by someone else between our lookup and our POST: converge by
        // updating it instead.
        StatusCode::CONFLICT => match fetch_policy(client, &file.id).await? {
            Some(existing) => update(client, file, source, &existing, &desired, json).await,
            None => Err(unexpected("POST /api/portal/policies", &r)),
        },
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            Err(server_problems(source, "create", &r))
        }
        _ => Err(unexpected("POST /api/portal/policies", &r)),
    }
}

async fn update(
    client: &Client,
    file: &PolicyFile,
    source: &str,
    existing: &Value,
    desired: &Value,
    json: bool,
) -> Result<(), Failure> {
    let changed = wire::changed_fields(existing, desired);
    if changed.is_empty() {
        note(&format!("policy {} unchanged", file.id));
        if json {
            out_json(&json!({"Status": "OK", "Message": "unchanged", "Meta": null}))?;
        }
        return Ok(());
    }
    let body = wire::merge_for_update(existing, desired);
    let path = format!("/api/portal/policies/{}", segment(&file.id));
    let r = client.call(Method::PUT, &path, Some(&body)).await?;
    match r.status {
        StatusCode::OK => {
            note(&format!(
                "updated policy {} (changed: {})",
                file.id,
                changed.join(", ")
            ));
            if json {
                out_json(&r.body)?;
            }
            Ok(())
        }
        StatusCode::NOT_FOUND => Err(Failure::Server(format!(
            "policy {} was deleted while being updated; run apply again",
            file.id
        ))),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            Err(server_problems(source, "update", &r))
        }
        _ => Err(unexpected(&format!("PUT {path}"), &r)),
    }
}

// ---------------------------------------------------------------------------
// list / get / delete
// ---------------------------------------------------------------------------

fn effective_id(p: &Value) -> String {
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
    if s("id").is_empty() {
        s("_id").to_string()
    } else {
        s("id").to_string()
    }
}

fn tags_of(p: &Value) -> Vec<String> {
    crate::util::json_strings(p.get("tags"))
}

/// Left-aligned columns, a `---` rule under the header (the tyk CLI's layout).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count().max(3)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                let width = widths.get(i).copied().unwrap_or(0);
                let pad = (width + 2).saturating_sub(c.chars().count());
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        // The last column may be empty; no trailing blanks either way.
        let mut s = s.trim_end().to_string();
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(vec!["---"; cols]));
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

async fn list(client: &Client, page: u32, json: bool) -> Result<(), Failure> {
    let path = format!("/api/portal/policies?p={page}");
    let r = client.call(Method::GET, &path, None).await?;
    if r.status != StatusCode::OK {
        return Err(unexpected(&format!("GET {path}"), &r));
    }
    let data = r
        .body
        .get("Data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pages = r.body.get("Pages").and_then(Value::as_u64).unwrap_or(1);
    let entries: Vec<Value> = data
        .iter()
        .map(|p| {
            json!({
                "id": effective_id(p),
                "name": p.get("name").and_then(Value::as_str).unwrap_or_default(),
                "api_count": p.get("access_rights").and_then(Value::as_object).map_or(0, |m| m.len()),
                "tags": tags_of(p),
            })
        })
        .collect();
    if json {
        out_json(&entries)?;
    }
    if data.is_empty() {
        note(&format!("No policies found on page {page}."));
        return Ok(());
    }
    if !json {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    clean(e["id"].as_str().unwrap_or_default()),
                    clean(e["name"].as_str().unwrap_or_default()),
                    e["api_count"].to_string(),
                    clean(&tags_of(e).join(", ")),
                ]
            })
            .collect();
        out(&table(&["ID", "Name", "APIs", "Tags"], &rows));
    }
    if pages > 1 {
        note(&format!("page {page} of {pages}"));
    }
    Ok(())
}

fn scalar(s: &wire::Scalar) -> String {
    match s {
        wire::Scalar::Int(n) => n.to_string(),
        wire::Scalar::Float(f) => f.to_string(),
        wire::Scalar::Text(t) => t.clone(),
    }
}

/// The one-line summary `get` prints on stderr.
pub fn summary(p: &wire::PolicyOut) -> String {
    let rate = p
        .rate_limit
        .as_ref()
        .map_or("no rate limit".to_string(), |r| {
            format!("rate {} / {}", scalar(&r.requests), scalar(&r.per))
        });
    let quota = p.quota.as_ref().map_or("no quota".to_string(), |q| {
        format!("quota {} / {}", scalar(&q.limit), scalar(&q.period))
    });
    let ttl = match &p.key_ttl {
        wire::Scalar::Text(t) if t == "0" => "keys never expire".to_string(),
        other => format!("keys expire after {}", scalar(other)),
    };
    let n = p.access.len();
    format!(
        "policy {} ({}): {rate}, {quota}, {ttl}, {n} API{}",
        clean(&p.id),
        clean(&p.name),
        if n == 1 { "" } else { "s" }
    )
}

async fn get(client: &Client, id: &str, json: bool) -> Result<(), Failure> {
    let Some(p) = fetch_policy(client, id).await? else {
        return Err(Failure::NotFound(format!(
            "policy {:?} not found",
            clean(id)
        )));
    };
    let apis = fetch_apis(client).await?;
    let (cli, notes) = wire::to_cli(&p, &apis);
    if json {
        out_json(&cli)?;
    } else {
        out(&wire::to_yaml(&cli).map_err(Failure::Io)?);
    }
    note(&summary(&cli));
    for n in notes {
        note(&format!("warning: {}", clean(&n)));
    }
    Ok(())
}

fn confirmed(prompt: &str) -> bool {
    {
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "{prompt} [y/N] ");
        let _ = e.flush();
    }
    let mut line = String::new();
    let stdin = std::io::stdin();
    let answer = match stdin.lock().read_line(&mut line) {
        Ok(_) => matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
        Err(_) => false,
    };
    // A terminal echoes the answer and its newline; a pipe does not, so end the
    // prompt line ourselves.
    use std::io::IsTerminal;
    if !stdin.is_terminal() {
        note("");
    }
    answer
}

fn delete(client: &Client, id: &str, yes: bool, json: bool) -> Result<(), Failure> {
    let rt = runtime()?;
    let Some(p) = rt.block_on(fetch_policy(client, id))? else {
        return Err(Failure::NotFound(format!(
            "policy {:?} not found",
            clean(id)
        )));
    };
    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
    // The prompt runs outside the runtime: reading stdin blocks.
    if !yes && !confirmed(&format!("Delete policy {} ({})?", clean(id), clean(name))) {
        note("cancelled");
        return Ok(());
    }
    let path = format!("/api/portal/policies/{}", segment(id));
    let r = rt.block_on(client.call(Method::DELETE, &path, None))?;
    match r.status {
        StatusCode::OK | StatusCode::NO_CONTENT => {
            note(&format!("deleted policy {}", clean(&effective_id(&p))));
            if json {
                out_json(&r.body)?;
            }
            Ok(())
        }
        StatusCode::NOT_FOUND => Err(Failure::NotFound(format!(
            "policy {:?} not found",
            clean(id)
        ))),
        _ => Err(unexpected(&format!("DELETE {path}"), &r)),
    }
}

// ---------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------

fn config_add(dir: &Path, name: &str, url: &str, var: &str) -> Result<(), Failure> {
    env::validate_name(name).map_err(Failure::Usage)?;
    env::validate_var(var).map_err(Failure::Usage)?;
    let url = env::normalise_url(url)?;
    let mut cfg = env::load(dir)?;
    let replaced = cfg
        .environments
        .insert(
            name.to_string(),
            Environment {
                url: url.clone(),
                secret_env: var.to_string(),
            },
        )
        .is_some();
    let became_current = cfg.current.is_none();
    if became_current {
        cfg.current = Some(name.to_string());
    }
    env::save(dir, &cfg)?;
    note(&format!(
        "{} environment {name}: {url}, secret from ${var}{}",
        if replaced { "updated" } else { "added" },
        if became_current { " (now current)" } else { "" }
    ));
    if process_env(var).is_none_or(|v| v.is_empty()) {
        note(&format!("note: ${var} is not set in this shell"));
    }
    Ok(())
}

fn config_use(dir: &Path, name: &str) -> Result<(), Failure> {
    let mut cfg = env::load(dir)?;
    let Some(e) = cfg.environments.get(name).cloned() else {
        let known: Vec<&str> = cfg.environments.keys().map(String::as_str).collect();
        return Err(Failure::NotFound(if known.is_empty() {
            format!("no environment named {name:?}; add one with `tollgate config add {name} --url URL --secret-env VAR`")
        } else {
            format!(
                "no environment named {name:?} (known: {})",
                known.join(", ")
            )
        }));
    };
    cfg.current = Some(name.to_string());
    env::save(dir, &cfg)?;
    note(&format!("now using environment {name} ({})", e.url));
    Ok(())
}

fn config_list(dir: &Path, json: bool) -> Result<(), Failure> {
    let cfg: ConfigFile = env::load(dir)?;
    let is_set = |var: &str| process_env(var).is_some_and(|v| !v.is_empty());
    if json {
        let items: Vec<Value> = cfg
            .environments
            .iter()
            .map(|(n, e)| {
                json!({
                    "name": n,
                    "url": e.url,
                    "secret_env": e.secret_env,
                    "secret_set": is_set(&e.secret_env),
                    "current": cfg.current.as_deref() == Some(n.as_str()),
                })
            })
            .collect();
        return out_json(&items);
    }
    if cfg.environments.is_empty() {
        note("no environments; add one with `tollgate config add NAME --url URL --secret-env VAR`");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = cfg
        .environments
        .iter()
        .map(|(n, e)| {
            let current = if cfg.current.as_deref() == Some(n.as_str()) {
                "*"
            } else {
                ""
            };
            let state = if is_set(&e.secret_env) {
                "set"
            } else {
                "not set"
            };
            vec![
                current.to_string(),
                n.clone(),
                e.url.clone(),
                format!("{} ({state})", e.secret_env),
            ]
        })
        .collect();
    out(&table(&["Current", "Name", "URL", "Secret env"], &rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scaffold_is_a_valid_policy() {
        for (id, name) in [
            ("gold", "Gold Plan"),
            ("x", "quotes \" and : colons # and \\ backslashes"),
            ("y", "yes"),
            ("n", "no"),
            ("123", "1.5"),
            ("null", "null"),
            ("0x1f", "~"),
            ("1e3", "[not, a, list]"),
            ("on", "  padded  "),
        ] {
            let text = scaffold(id, name);
            let p = schema::parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            assert_eq!(p.id, id);
            assert_eq!(p.name, name);
            assert_eq!(p.key_ttl, 0);
            assert_eq!(p.access.len(), 1);
        }
    }

    #[test]
    fn table_layout() {
        let t = table(
            &["ID", "Name", "APIs", "Tags"],
            &[
                vec![
                    "gold".into(),
                    "Gold Plan".into(),
                    "3".into(),
                    "gold, paid".into(),
                ],
                vec!["free-tier".into(), "Free".into(), "1".into(), "".into()],
            ],
        );
        assert_eq!(
            t,
            "\
ID         Name       APIs  Tags
---        ---        ---   ---
gold       Gold Plan  3     gold, paid
free-tier  Free       1
"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(clean("plain"), "plain");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Failure::Usage(String::new()).exit_code(), 2);
        assert_eq!(Failure::Invalid(vec![]).exit_code(), 2);
        assert_eq!(Failure::NotFound(String::new()).exit_code(), 3);
        assert_eq!(Failure::Network(String::new()).exit_code(), 1);
        assert_eq!(Failure::Auth(String::new()).exit_code(), 1);
        assert_eq!(Failure::Server(String::new()).exit_code(), 1);
        assert_eq!(Failure::Io(String::new()).exit_code(), 1);
    }
}
