//! Command-line interface: `serve`, `check`, `echo`, `policy`, `config`.

pub mod echo;
pub mod policy;

use crate::limits::Clock;
use crate::state::{self, AppState};
use crate::tyk::config::Config;
use crate::StartupError;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A Tyk-compatible API gateway (file mode)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve {
        /// tyk.conf to use (default: ./tyk.conf if present, else built-in defaults).
        #[arg(long, short = 'c', alias = "conf")]
        config: Option<PathBuf>,
    },
    /// Validate tyk.conf, API definitions and policies offline; exit 2 on any problem.
    Check {
        #[arg(long, short = 'c', alias = "conf")]
        config: Option<PathBuf>,
    },
    /// Run a tiny upstream that answers `200 ok` (`?echo` describes the request).
    Echo {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
    /// Manage policies on a running gateway from YAML files (init, apply, list, get, delete).
    Policy(crate::cli::policy::PolicyArgs),
    /// Named gateway environments for `tollgate policy` (add, use, list).
    Config(crate::cli::policy::ConfigArgs),
}

/// Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or files; `policy`
/// also uses 3 for "not found".
pub fn run(cli: Cli) -> ExitCode {
    init_logging();
    match cli.command {
        Command::Policy(args) => crate::cli::policy::run_policy(args),
        Command::Config(args) => crate::cli::policy::run_config(args),
        Command::Serve { config } => match load_config(config.as_deref()) {
            Ok((cfg, _)) => serve(cfg),
            Err(code) => code,
        },
        Command::Check { config } => check(config.as_deref()),
        Command::Echo { listen } => {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match rt.block_on(crate::cli::echo::run(listen)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: echo: cannot listen on {listen}: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let level = std::env::var("TYK_LOGLEVEL").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let json = std::env::var("TYK_GW_LOGFORMAT")
        .or_else(|_| std::env::var("TYK_LOGFORMAT"))
        .is_ok_and(|v| v == "json");
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // TOKIO_WORKER_THREADS is honoured by tokio itself. With one worker, a current-thread
    // runtime does the same job without cross-thread hand-offs (the bench runs this way).
    let one = std::env::var("TOKIO_WORKER_THREADS").is_ok_and(|v| v.trim() == "1");
    if one {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    }
}

/// `--config`, else `./tyk.conf` when present, else defaults.
fn load_config(path: Option<&Path>) -> Result<(Config, String), ExitCode> {
    let default = Path::new("tyk.conf");
    let chosen = path.or_else(|| default.exists().then_some(default));
    let shown = chosen.map_or("<built-in defaults>".to_string(), |p| {
        p.display().to_string()
    });
    match Config::load(chosen, std::env::vars()) {
        Ok(cfg) => Ok((cfg, shown)),
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn check(path: Option<&Path>) -> ExitCode {
    let (cfg, shown) = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The listener's certificates: unusable files are errors, an expired certificate a
    // warning here (`serve` refuses to start on it).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let tls_problems = match crate::tls::server(&cfg.http_server_options, now) {
        Ok(Some((_, skipped))) => {
            for w in skipped {
                eprintln!("warning: {shown}: {w}");
            }
            Vec::new()
        }
        Ok(None) => Vec::new(),
        Err(p) => p,
    };
    let (expired, tls_errors): (Vec<_>, Vec<_>) = tls_problems.into_iter().partition(|p| p.expired);
    for p in &expired {
        eprintln!("warning: {shown}: {p}");
    }
    if !tls_errors.is_empty() {
        for p in &tls_errors {
            eprintln!("error: {shown}: {p}");
        }
        eprintln!("{} problem(s) found", tls_errors.len());
        return ExitCode::from(2);
    }
    match state::build_snapshot(&cfg, 1) {
        Ok(snap) => {
            for w in &cfg.warnings {
                eprintln!("warning: {shown}: {}: {}", w.path, w.reason);
            }
            for w in &snap.warnings {
                eprintln!("warning: {w}");
            }
            for w in crate::policy::lint::warnings(&snap) {
                eprintln!("warning: {w}");
            }
            println!(
                "ok: {shown}: {} API definition(s), {} polic{} in {}",
                snap.apis.len(),
                snap.policies.len(),
                if snap.policies.len() == 1 { "y" } else { "ies" },
                cfg.app_path
            );
            ExitCode::SUCCESS
        }
        Err(issues) => {
            for i in &issues.0 {
                eprintln!("error: {i}");
            }
            eprintln!("{} problem(s) found", issues.0.len());
            ExitCode::from(2)
        }
    }
}

fn serve(cfg: Config) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async move {
        let state = AppState::new(cfg, Clock::System)?;
        let running = crate::server::start(state.clone()).await?;
        tracing::info!(
            addr = %running.addr,
            control = ?running.control_addr,
            apis = state.snapshot.load().apis.len(),
            policies = state.snapshot.load().policies.len(),
            keys = state.store.len(),
            admin = state.config.admin_enabled(),
            "tollgate listening"
        );
        if !state.config.admin_enabled() {
            tracing::warn!("no \"secret\" in tyk.conf: the /tyk/ admin API is disabled");
        }
        wait_for_signals(&state).await;
        tracing::info!("shutting down: draining connections");
        running.stop().await;
        Ok::<(), StartupError>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(unix)]
async fn wait_for_signals(state: &std::sync::Arc<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => {
                let _ = state.reload("SIGHUP").await;
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_state: &std::sync::Arc<AppState>) {
    let _ = tokio::signal::ctrl_c().await;
}
