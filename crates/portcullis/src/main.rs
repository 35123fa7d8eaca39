//! The `portcullis` command: parses the command line ([`portcullis::cli`]), runs the command and
//! prints its answer. Errors go to standard error with exit code 1 (usage errors: 2).

use clap::Parser;
use portcullis::cli::logs::{self, FOLLOW_INTERVAL, LogSource};
use portcullis::cli::remote::Remote;
use portcullis::cli::{self, AdminCommand, AdminOptions, Cli, Command, remote_commands};
use portcullis::config::{Config, RuntimeShape, process_env};
use portcullis::demo::{DemoOptions, run as run_demo};
use portcullis::gateway::Clock;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Starts logging; `default` is the level when `PORTCULLIS_LOG` is unset.
fn init_logging(default: &str, writer: BoxMakeWriter) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let json = std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
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

/// Runs an administration command against the configured store, or through a gateway's admin
/// API when `--url` is given, and prints its answer (`logs … --follow`: until interrupted).
fn admin(options: AdminOptions, command: AdminCommand) -> anyhow::Result<()> {
    let output = options.output();
    let now = Clock::default().now();
    let rt = runtime(RuntimeShape::CurrentThread)?;
    let mut print = |text: &str| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    };
    if let Some(url) = &options.url {
        let remote = Remote::connect(url, options.token.clone())?;
        return rt.block_on(async {
            if let Some(logs) = command.follows() {
                let source = LogSource::Remote(&remote);
                return until_interrupted(logs::follow(
                    source,
                    logs,
                    output,
                    FOLLOW_INTERVAL,
                    &mut print,
                ))
                .await;
            }
            print(&remote_commands::execute(&remote, &command, output, now).await?);
            Ok(())
        });
    }
    // Commands that exist only through the API say so before any configuration is read.
    if let Some(name) = command.api_only() {
        return Err(cli::CliError::RemoteOnly(name).into());
    }
    let config = Config::load(&options.config.config, &process_env())?;
    rt.block_on(async {
        let store = cli::open_store(&config).await?;
        let result = match command.follows() {
            Some(logs) => {
                let source = LogSource::Store(store.as_ref());
                until_interrupted(logs::follow(
                    source,
                    logs,
                    output,
                    FOLLOW_INTERVAL,
                    &mut print,
                ))
                .await
            }
            None => cli::execute(&config, store.as_ref(), &command, output, now)
                .await
                .map(|text| print(&text))
                .map_err(anyhow::Error::from),
        };
        store.close().await;
        result
    })
}

/// Runs `work` until it fails or the user presses Ctrl-C (which ends it successfully).
async fn until_interrupted(
    work: impl std::future::Future<Output = Result<(), cli::CliError>>,
) -> anyhow::Result<()> {
    tokio::select! {
        r = work => r.map_err(anyhow::Error::from),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Serve { config } => {
            init_logging("info", BoxMakeWriter::new(std::io::stdout));
            Config::load(&config.config, &process_env())
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
                })
        }
        Command::CheckConfig { config } => Config::load(&config.config, &process_env())
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
        } => {
            init_logging("info", BoxMakeWriter::new(std::io::stdout));
            runtime(RuntimeShape::CurrentThread)
                .map_err(anyhow::Error::from)
                .and_then(|rt| {
                    rt.block_on(async {
                        tokio::select! {
                            r = run_demo(DemoOptions { listen, data_dir, idp_alg }) => r,
                            _ = tokio::signal::ctrl_c() => Ok(()),
                        }
                    })
                })
        }
        Command::Completions { shell } => {
            print!("{}", cli::completions(shell));
            Ok(())
        }
        Command::Admin(group) => {
            // Warnings and errors only, on standard error: standard output is the answer.
            init_logging("warn", BoxMakeWriter::new(std::io::stderr));
            let (options, command) = group.split();
            admin(options, command)
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portcullis: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
