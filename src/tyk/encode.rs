//! Encoding helpers shared by the document types: Go's `omitempty` tests and its
//! integral-float spelling.

pub(crate) fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}
pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
pub(crate) fn is_false(v: &bool) -> bool {
    !*v
}

/// Go's encoder writes an integral float64 as `5`, not `5.0`; match it so documents
/// round-trip byte-for-byte through tools that compare text.
pub(crate) fn ser_num<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}
