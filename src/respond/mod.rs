//! What the gateway answers: the response body type every response uses, and the one
//! renderer of proxy refusals (Tyk's statuses and bodies).

pub mod body;
pub mod refusal;
