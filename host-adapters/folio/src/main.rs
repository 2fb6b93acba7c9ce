use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use folio::builder::{self, Which};
use folio::compile_cache::CompileCache;
use folio::config::RuntimeConfig;
use folio::gateway::RateLimiter;
use folio::logging::LogFormat;
use folio::manifest::{App, one_line};
use folio::releases::Releases;
use folio::runtime::{AppRuntime, Limits, Storage};
use folio::server::Server;

// Instantiating a component per request allocates a lot of small, short-lived
// objects; mimalloc serves them markedly faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "folio",
    version,
    about = "Serve Folio's Wasm components from a Spin manifest"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log line format: human on a terminal and JSON otherwise, unless set.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FOLIO_LOG_FORMAT",
        default_value_t = LogFormat::Auto
    )]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Build what is missing, then serve every route of the manifest.
    Up(UpArgs),
    /// Run every component's build command.
    Build {
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
    },
    /// Check a manifest and a runtime config without serving: every table
    /// and key parsed and every binding matched to a grant (no backend is
    /// contacted).
    Check {
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
        #[arg(long, alias = "runtime-config-file")]
        runtime_config: Option<PathBuf>,
    },
    /// Serve the host's adapters (SQL with its outbox, events, key-value) to
    /// components that run under Spin with the platform shim.
    Adapters(AdaptersArgs),
    /// Write the app for a real Spin: components composed with the platform
    /// shim, a manifest and the variables Spin needs (see `folio adapters`).
    Export {
        #[command(subcommand)]
        target: ExportTarget,
    },
    /// Print a new access-token signing key and its JWKS, as the environment
    /// variables a production deployment sets (`auth_signing_key` on the
    /// users service, `auth_public_keys` on every component).
    AuthKeys,
}

#[derive(Subcommand)]
enum ExportTarget {
    Spin(SpinExportArgs),
}

#[derive(Args)]
struct SpinExportArgs {
    #[arg(long, short = 'f', default_value = "spin.toml")]
    manifest: PathBuf,
    /// Directory to write `spin.toml`, the composed components and `spin.env` to.
    #[arg(long)]
    out: PathBuf,
    /// The adapter service's URL, as the Spin host reaches it.
    #[arg(long)]
    adapters_url: String,
    /// The shim component (default: where `folio build` puts it).
    #[arg(long)]
    shim: Option<PathBuf>,
    /// Only these components (repeatable; default: every one Spin can run).
    #[arg(long = "component-id")]
    component_ids: Vec<String>,
    /// The data directory `folio adapters` uses: access-token keys generated
    /// there are handed to Spin as variables.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct AdaptersArgs {
    #[arg(long, short = 'f', default_value = "spin.toml")]
    manifest: PathBuf,
    #[arg(long, default_value = "127.0.0.1:3901")]
    listen: SocketAddr,
    #[arg(long, alias = "runtime-config-file")]
    runtime_config: Option<PathBuf>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The Spin app's base URL: run the event and cron triggers here and
    /// deliver each event and tick to its route there (`folio export spin`
    /// adds the routes). Without it, no trigger runs.
    #[arg(long)]
    deliver_to: Option<String>,
    /// Only these components (repeatable; `folio export spin` prints the ones
    /// it exported).
    #[arg(long = "component-id")]
    component_ids: Vec<String>,
}

#[derive(Args)]
struct UpArgs {
    /// The manifest, a directory holding `spin.toml`, or (as SpinKube's
    /// executor passes it) the app's image reference: the app baked into
    /// this image (`FOLIO_BAKED_APP`) is served for it.
    #[arg(long, short = 'f', alias = "from", default_value = "spin.toml")]
    manifest: String,
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// TOML file binding this host's limits and stores to backends.
    #[arg(long, alias = "runtime-config-file")]
    runtime_config: Option<PathBuf>,
    /// Serve only these components and their triggers (repeatable; also
    /// `SPIN_COMPONENTS_TO_RETAIN`, comma-separated, as SpinKube sets it).
    #[arg(long = "component-id")]
    component_ids: Vec<String>,
    /// Embedded state and compile cache (default: `.folio` beside the manifest).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Rebuild every component before serving, not only missing ones.
    #[arg(long)]
    build: bool,
    /// Per-instance linear memory cap, in MiB.
    #[arg(long)]
    max_memory_mb: Option<usize>,
    /// Request deadline, in milliseconds.
    #[arg(long)]
    request_timeout_ms: Option<u64>,
    #[arg(long)]
    max_body_bytes: Option<u64>,
    /// HTTP requests in flight at once (each request's chained calls come on top).
    #[arg(long)]
    max_instances: Option<usize>,
    /// Event deliveries and cron runs in flight at once, apart from HTTP.
    #[arg(long)]
    max_background_instances: Option<usize>,
    /// Compile every component on start instead of reusing the on-disk cache.
    #[arg(long)]
    no_compile_cache: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    folio::logging::init(cli.log_format);
    let result = match cli.command {
        Command::Build { manifest } => {
            App::load(&manifest).and_then(|app| builder::build(&app, Which::All))
        }
        Command::Up(args) => up(args),
        Command::Check {
            manifest,
            runtime_config,
        } => check(&manifest, runtime_config.as_deref()),
        Command::Adapters(args) => adapters(args),
        Command::Export {
            target: ExportTarget::Spin(args),
        } => export_spin(args),
        Command::AuthKeys => {
            print!("{}", folio::auth_keys::new_key_env());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("folio: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The runtime config at `path`, or the embedded defaults without one.
fn runtime_config_from(path: Option<&std::path::Path>) -> anyhow::Result<RuntimeConfig> {
    match path {
        Some(path) => RuntimeConfig::load(path),
        None => Ok(RuntimeConfig::default()),
    }
}

/// The host's limits as the runtime config sets them (flags may override).
fn configured_limits(config: &RuntimeConfig) -> anyhow::Result<Limits> {
    let mut limits = Limits::default();
    config.limits.apply(&mut limits);
    limits.outbound = config.outbound.policy()?;
    Ok(limits)
}

fn check(
    manifest: &std::path::Path,
    runtime_config: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let app = App::load(manifest)?;
    let mut config = runtime_config_from(runtime_config)?;
    config.outbound.policy()?;
    config.http.policy()?;
    // Parsed, not opened: a Kafka client would start connecting.
    if let Some(table) = config.capabilities.remove("event_log") {
        let _: folio_events::EventLogConfig = table
            .try_into()
            .map_err(|e| anyhow::anyhow!("[event_log]: {e}"))?;
    }
    let scratch = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        folio::capability::configure_all(folio::capability::HostContext {
            app: &app,
            data_dir: scratch.path(),
            metrics: &folio::metrics::Metrics::default(),
            tables: &mut config.capabilities,
        })
        .await
        .map(drop)
    })?;
    println!(
        "{}: {} components, {} routes; runtime config {}: ok",
        manifest.display(),
        app.components.len(),
        app.http_triggers.len(),
        runtime_config.map_or("(none)".into(), |p| p.display().to_string())
    );
    Ok(())
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    let manifest =
        folio::manifest::resolve_app_reference(&args.manifest, &|name| std::env::var(name).ok())?;
    let mut app = App::load(&manifest)?;
    let mut retain = args.component_ids.clone();
    if let Ok(list) = std::env::var("SPIN_COMPONENTS_TO_RETAIN") {
        retain.extend(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    if !retain.is_empty() {
        app.retain_components(&retain)?;
    }
    let config = runtime_config_from(args.runtime_config.as_deref())?;
    let mut limits = configured_limits(&config)?;
    if let Some(mb) = args.max_memory_mb {
        limits.max_memory_bytes = mb << 20;
    }
    if let Some(ms) = args.request_timeout_ms {
        limits.request_timeout = Duration::from_millis(ms);
    }
    if let Some(b) = args.max_body_bytes {
        limits.max_body_bytes = b;
    }
    if let Some(n) = args.max_instances {
        limits.max_concurrent_instances = n;
    }
    if let Some(n) = args.max_background_instances {
        limits.max_background_instances = n;
    }
    if limits.max_concurrent_instances == 0 || limits.max_background_instances == 0 {
        anyhow::bail!("--max-instances and --max-background-instances must be at least 1");
    }
    let data_dir = args
        .data_dir
        .or(config.data_dir)
        .unwrap_or_else(|| app.root.join(".folio"));

    builder::build(
        &app,
        if args.build {
            Which::All
        } else {
            Which::Missing
        },
    )?;

    let cache = if args.no_compile_cache {
        CompileCache::disabled()
    } else {
        CompileCache::new(data_dir.join("compiled"))
    };
    let started = std::time::Instant::now();
    let tokio = tokio::runtime::Runtime::new()?;
    tokio.block_on(async move {
        let http = config.http.policy()?;
        let rate_limits = RateLimiter::new(
            &folio::releases::manifest_rate_limits(&app),
            config.rate_limits,
        )
        .await?;
        let storage = Storage {
            tables: config.capabilities,
            data_dir,
        };
        let runtime =
            AppRuntime::load(&app, limits, &cache, storage, &|k| std::env::var(k).ok()).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let address = listener.local_addr()?;
        runtime.set_public_url(
            config
                .public_url
                .as_deref()
                .unwrap_or(&format!("http://{address}")),
        );
        tracing::info!(
            address = %address,
            app = %app.name,
            components = app.components.len(),
            routes = app.http_triggers.len(),
            loadMs = started.elapsed().as_secs_f64() * 1000.0,
            "serving"
        );
        let exporter = folio::telemetry::start(&config.telemetry, runtime.metrics.clone(), &|k| {
            std::env::var(k).ok()
        })?;
        let releases = Releases::start(manifest, runtime, rate_limits, retain);
        tokio::spawn(reload_on_sighup(releases.clone()));
        let served = Server::new(releases.clone(), config.metrics, config.releases, http)
            .serve(listener)
            .await;
        releases.live().runtime.stop_background().await;
        if let Some(exporter) = exporter {
            exporter.shutdown().await;
        }
        served
    })
}

/// The adapter service's secret, from `FOLIO_ADAPTERS_SECRET`.
fn adapters_secret() -> anyhow::Result<Vec<u8>> {
    std::env::var("FOLIO_ADAPTERS_SECRET")
        .map(String::into_bytes)
        .map_err(|_| anyhow::anyhow!("set FOLIO_ADAPTERS_SECRET (32 bytes or more)"))
}

fn adapters(args: AdaptersArgs) -> anyhow::Result<()> {
    let secret = adapters_secret()?;
    let mut app = App::load(&args.manifest)?;
    if !args.component_ids.is_empty() {
        app.retain_components(&args.component_ids)?;
    }
    let delivery = args
        .deliver_to
        .as_deref()
        .map(|url| folio::remote_delivery::RemoteDelivery::new(url, secret.clone()))
        .transpose()?;
    let config = runtime_config_from(args.runtime_config.as_deref())?;
    let limits = configured_limits(&config)?;
    let data_dir = args
        .data_dir
        .or(config.data_dir)
        .unwrap_or_else(|| app.root.join(".folio"));
    builder::build(&app, Which::Missing)?;
    let cache = CompileCache::new(data_dir.join("compiled"));
    tokio::runtime::Runtime::new()?.block_on(async move {
        let rate_limits = RateLimiter::new(
            &folio::releases::manifest_rate_limits(&app),
            config.rate_limits,
        )
        .await?;
        let storage = Storage {
            tables: config.capabilities,
            data_dir,
        };
        let runtime =
            AppRuntime::load(&app, limits, &cache, storage, &|k| std::env::var(k).ok()).await?;
        let service =
            folio::adapter_service::AdapterService::new(runtime.clone(), secret, rate_limits)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        tracing::info!(address = %listener.local_addr()?, app = %app.name, role = "adapters", "serving");
        match delivery {
            Some(delivery) => {
                runtime.deliver_remotely(delivery);
                runtime.start_background();
            }
            None => runtime.start_relays(),
        }
        let served = service.serve(listener).await;
        runtime.stop_background().await;
        served
    })
}

fn export_spin(args: SpinExportArgs) -> anyhow::Result<()> {
    let secret = adapters_secret()?;
    let app = App::load(&args.manifest)?;
    let data_dir = args.data_dir.unwrap_or_else(|| app.root.join(".folio"));
    let shim = args
        .shim
        .unwrap_or_else(|| folio::spin_export::default_shim(&app));
    // What `folio up` would resolve from the environment, Spin gets as its own variables.
    let mut variables: std::collections::BTreeMap<String, String> =
        folio::auth_keys::defaults(&app, &|k| std::env::var(k).ok(), &data_dir)?
            .into_iter()
            .filter_map(|(env, value)| {
                env.strip_prefix("FOLIO_VAR_")
                    .map(|name| (name.to_ascii_lowercase(), value))
            })
            .collect();
    for (env, value) in std::env::vars() {
        if let Some(name) = env.strip_prefix("FOLIO_VAR_") {
            variables.insert(name.to_ascii_lowercase(), value);
        }
    }
    let report = folio::spin_export::export(folio::spin_export::ExportRequest {
        app: &app,
        shim: &shim,
        out: &args.out,
        adapters_url: &args.adapters_url,
        secret: &secret,
        only: &args.component_ids,
        variables,
    })?;
    println!("composed with the shim: {}", report.composed.join(", "));
    println!("unchanged: {}", report.unchanged.join(", "));
    if !report.rate_limited.is_empty() {
        println!(
            "behind the rate-limit gateway: {}",
            report.rate_limited.join(", ")
        );
    }
    for (component, why) in &report.left_out {
        println!("left out: {component}: {why}");
    }
    if !report.triggers_left_out.is_empty() {
        println!(
            "triggers of components left out: {}",
            report.triggers_left_out.join(", ")
        );
    }
    if !report.triggers_delivered.is_empty() {
        println!(
            "triggers `folio adapters --deliver-to <the Spin app's URL>` runs: {}",
            report.triggers_delivered.join(", ")
        );
    }
    let ids: Vec<String> = report
        .composed
        .iter()
        .map(|id| format!("--component-id {id}"))
        .collect();
    println!(
        "serve the adapters for them with `folio adapters -f {} {} --deliver-to <the Spin app's URL>`",
        args.manifest.display(),
        ids.join(" ")
    );
    println!(
        "wrote {0}/spin.toml and {0}/spin.env: run `set -a; . {0}/spin.env; spin up -f {0}/spin.toml`",
        args.out.display()
    );
    Ok(())
}

/// SIGHUP loads the live manifest again, with its components, and switches
/// to it; one that does not load leaves the live release serving.
async fn reload_on_sighup(releases: std::sync::Arc<Releases>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("no SIGHUP handler: reload with /_folio/releases instead");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the manifest");
        match releases.reload().await {
            Ok(release) => tracing::info!(release = release.id, "reloaded"),
            Err(e) => tracing::error!(error = %e, "reload refused; the live release keeps serving"),
        }
    }
}
