//! `hapax keys`: issue, list, revoke and rotate API keys in the store under
//! the policy's `gateway { data_dir }` (the policy `serve` would run on the
//! same paths). A running `serve` sees each change within a second.

use super::{load, print_diagnostics, FAILED, OK, USAGE};
use hapax_lang::Mode;
use hapax_runtime::keys::{self, KeyInfo, NewKey, Store};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum Keys {
    /// Issue a key; it is printed once, alone on the last line.
    Create {
        /// The client the key stands for (`client.id`).
        #[arg(long)]
        client: String,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        tier: Option<String>,
        /// Comma-separated roles, such as `admin`.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// How long it lives, in the language's syntax (`90d`, `12h`).
        #[arg(long)]
        expires: Option<String>,
        /// Policy files or folders (as for `serve`).
        paths: Vec<PathBuf>,
    },
    /// One line per key: id, client, roles, expiry, state. Never the key.
    List { paths: Vec<PathBuf> },
    /// Revoke a key, given as the key or its id.
    Revoke { key: String, paths: Vec<PathBuf> },
    /// Issue a new key for the same client and revoke the old one; the new
    /// key alone on the last line.
    Rotate { key: String, paths: Vec<PathBuf> },
}

/// The store of the policy `serve` would run on `paths`.
fn store(paths: &[PathBuf]) -> Result<Store, u8> {
    let paths: Vec<PathBuf> = if paths.is_empty() && Path::new("policies/quickstart.hapax").is_file() {
        vec![PathBuf::from("policies/quickstart.hapax")]
    } else {
        paths.to_vec()
    };
    let data_dir = if paths.is_empty() {
        hapax_lang::graph::Gateway::default().data_dir
    } else {
        let checked = load(&paths, Mode::Check)?;
        if !checked.ok() {
            print_diagnostics(&checked);
            return Err(FAILED);
        }
        checked.graph.gateway.data_dir
    };
    Store::open(&data_dir).map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })
}

fn line(k: &KeyInfo, now: u64) -> String {
    let roles = if k.roles.is_empty() { "-".to_string() } else { k.roles.join(",") };
    let expires = k.expires.map_or("never".to_string(), |e| format!("{e}"));
    format!("{}  {}  {}  {}  {}", k.id, k.client, roles, expires, k.state(now))
}

pub fn run(cmd: Keys) -> u8 {
    let result = match cmd {
        Keys::Create { client, team, tier, roles, expires, paths } => (|| {
            let expires_in = match &expires {
                Some(d) => Some(keys::parse_duration(d).ok_or_else(|| {
                    eprintln!("error: `{d}` is not a duration (such as `90d`, `12h`, `30m`)");
                    USAGE
                })?),
                None => None,
            };
            let new = NewKey { client, team, tier, roles, expires_in };
            keys::validate(&new).map_err(|e| {
                eprintln!("error: {e}");
                USAGE
            })?;
            let (key, info) = store(&paths)?.create(&new).map_err(report)?;
            println!("created key {} for client `{}`; it is shown once:", info.id, info.client);
            println!("{key}");
            Ok(())
        })(),
        Keys::List { paths } => (|| {
            let now = keys::now();
            for k in store(&paths)?.list().map_err(report)? {
                println!("{}", line(&k, now));
            }
            Ok(())
        })(),
        Keys::Revoke { key, paths } => (|| {
            let info = store(&paths)?.revoke(&key).map_err(report)?;
            println!("revoked {}", line(&info, keys::now()));
            Ok(())
        })(),
        Keys::Rotate { key, paths } => (|| {
            let (new, info) = store(&paths)?.rotate(&key).map_err(report)?;
            println!("rotated to key {} for client `{}`; it is shown once:", info.id, info.client);
            println!("{new}");
            Ok(())
        })(),
    };
    match result {
        Ok(()) => OK,
        Err(code) => code,
    }
}

fn report(e: keys::KeyError) -> u8 {
    eprintln!("error: {e}");
    FAILED
}
