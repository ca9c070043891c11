//! `rocketload serve`: flags -> server config -> run until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;

use super::report_error;
use crate::runner::Exit;

const EXIT_OK: u8 = Exit::Pass.code();
const EXIT_BAD_INPUT: u8 = Exit::BadInput.code();
use crate::cli::ServeArgs;
use crate::server::{self, Seed, ServerConfig, cost::CostModel};

pub fn run(args: ServeArgs) -> u8 {
    let cfg = match config(&args) {
        Ok(cfg) => cfg,
        Err(msg) => {
            eprintln!("error: {msg}");
            return EXIT_BAD_INPUT;
        }
    };
    let (admin, password) = (cfg.admin_user.clone(), cfg.admin_password.clone());
    let open_files = super::raise_open_file_limit();
    let server = match server::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            report_error(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let mut out = std::io::stdout().lock();
    for (i, url) in server.urls().iter().enumerate() {
        let _ = writeln!(out, "instance {i} listening on {url}");
    }
    if let Some(url) = server.metrics_url() {
        let _ = writeln!(out, "metrics on {url}");
    }
    let _ = writeln!(out, "admin credentials: {admin} / {password}");
    let _ = writeln!(
        out,
        "open-file limit {open_files}: at most that many sessions (ulimit -n)"
    );
    let _ = out.flush();
    drop(out);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the signal runtime: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if let Err(e) = runtime.block_on(tokio::signal::ctrl_c()) {
        eprintln!("error: waiting for Ctrl-C: {e}");
    }
    server.shutdown();
    EXIT_OK
}

fn loopback_or_public(flag: &str, addr: SocketAddr, public: bool) -> Result<(), String> {
    if public || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{flag} {addr} is not a loopback address; pass --public to serve on other interfaces"
        ))
    }
}

fn config(args: &ServeArgs) -> Result<ServerConfig, String> {
    loopback_or_public("--listen", args.listen, args.public)?;
    if let Some(m) = args.metrics_listen {
        loopback_or_public("--metrics-listen", m, args.public)?;
    }
    let cost = match &args.cost {
        Some(spec) => CostModel::parse(spec).map_err(|e| format!("--cost: {e}"))?,
        None => CostModel::none(),
    };
    Ok(ServerConfig {
        listen: args.listen,
        instances: args.instances,
        metrics_listen: args.metrics_listen,
        cost,
        seed: Seed {
            users: args.seed_users,
            rooms: args.seed_rooms,
            members_per_room: args.members_per_room,
            password: args.password.clone(),
            user_prefix: args.user_prefix.clone(),
            room_prefix: args.room_prefix.clone(),
        },
        admin_user: args.admin_user.clone(),
        admin_password: args.admin_password.clone(),
        rate_limits: args.rate_limits,
        registration_open: !args.no_registration,
        api_version: args.api_version,
        max_frame_bytes: args.max_frame_bytes,
        max_send_buffer_bytes: args.max_send_buffer_bytes,
    })
}
