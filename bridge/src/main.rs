use std::process::ExitCode;

use cardea_bridge::cli::Cli;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cardea: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let set_level =
        cardea_bridge::logging::init(config.general.debug_level, config.general.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("cardea-control")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cardea: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        if let Err(e) = cardea_bridge::server::start(config, set_level).await {
            tracing::error!("{e}");
            eprintln!("cardea: {e}");
            return ExitCode::FAILURE;
        }
        wait_for_signal().await;
        tracing::info!("shutting down");
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
