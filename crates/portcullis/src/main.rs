//! The `portcullis` command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use portcullis::config::{Config, RuntimeShape, process_env};
use portcullis::demo::{DemoOptions, run as run_demo};
use portcullis_jose::Algorithm;

#[derive(Parser)]
#[command(name = "portcullis", version, about = "Identity-aware access gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway with a configuration file.
    Serve {
        /// Path of the TOML configuration.
        #[arg(
            long,
            short,
            env = "PORTCULLIS_CONFIG",
            default_value = "portcullis.toml"
        )]
        config: PathBuf,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        #[arg(
            long,
            short,
            env = "PORTCULLIS_CONFIG",
            default_value = "portcullis.toml"
        )]
        config: PathBuf,
    },
    /// Run the gateway with a built-in demo identity provider and origin (not for production).
    Demo {
        /// Gateway listener.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the demo keeps its SQLite database and secret key.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Algorithm the demo IdP signs ID tokens with.
        #[arg(long, default_value = "RS256")]
        idp_alg: Algorithm,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn runtime(shape: RuntimeShape) -> std::io::Result<tokio::runtime::Runtime> {
    match shape {
        RuntimeShape::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        RuntimeShape::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve { config } => Config::load(&config, &process_env())
            .map_err(anyhow::Error::from)
            .and_then(|config| {
                let rt = runtime(config.server.runtime)?;
                rt.block_on(async {
                    let running = portcullis::run::start(config).await?;
                    tokio::select! {
                        r = running.wait() => r.map_err(anyhow::Error::from),
                        _ = tokio::signal::ctrl_c() => Ok(()),
                    }
                })
            }),
        Command::CheckConfig { config } => Config::load(&config, &process_env())
            .map(|c| {
                println!(
                    "configuration is valid: team URL {}, {} login method(s), {} application(s)",
                    c.server.team_url,
                    c.identity_providers.len(),
                    c.applications.len()
                );
            })
            .map_err(anyhow::Error::from),
        Command::Demo {
            listen,
            data_dir,
            idp_alg,
        } => runtime(RuntimeShape::CurrentThread)
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                rt.block_on(async {
                    tokio::select! {
                        r = run_demo(DemoOptions { listen, data_dir, idp_alg }) => r,
                        _ = tokio::signal::ctrl_c() => Ok(()),
                    }
                })
            }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portcullis: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
