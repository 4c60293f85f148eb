//! Why a policy CLI command failed, and so its exit code.

/// Why a command failed; decides the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Bad arguments or configuration (exit 2).
    Usage(String),
    /// Validation or resolution problems, one line each (exit 2).
    Invalid(Vec<String>),
    /// The policy or environment does not exist (exit 3).
    NotFound(String),
    /// The gateway could not be reached or did not answer in time (exit 1).
    Network(String),
    /// The gateway refused the secret (exit 1).
    Auth(String),
    /// The gateway failed or answered something unexpected (exit 1).
    Server(String),
    /// A local file could not be read or written (exit 1).
    Io(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::Invalid(_) => 2,
            Failure::NotFound(_) => 3,
            Failure::Network(_) | Failure::Auth(_) | Failure::Server(_) | Failure::Io(_) => 1,
        }
    }
}
