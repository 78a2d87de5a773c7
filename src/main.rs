//! The `hapax` command: check, format, test and serve policies.

mod cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// An LLM gateway configured by a declarative policy language.
#[derive(Parser)]
#[command(name = "hapax", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check policies and report every problem.
    Check {
        /// Files or folders (a folder means every `*.hapax` in it).
        #[arg(default_value = "policies")]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = cmd::check::Format::Human)]
        format: cmd::check::Format,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Check as `serve` would: unset environment variables and
        /// declarations serve does not enforce are errors.
        #[arg(long)]
        serve: bool,
    },
    /// Format policies in the one canonical layout.
    Fmt {
        /// Files or folders.
        #[arg(default_value = "policies")]
        paths: Vec<PathBuf>,
        /// Report files that are not formatted instead of rewriting them.
        #[arg(long)]
        check: bool,
    },
    /// Run the `test` blocks of policies.
    Test {
        #[arg(default_value = "policies")]
        paths: Vec<PathBuf>,
    },
    /// Print the compiled routing graph.
    Graph {
        #[arg(default_value = "policies")]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = cmd::graph::Format::Text)]
        format: cmd::graph::Format,
    },
    /// Run the gateway.
    Serve {
        /// Policy files or folders; the embedded quickstart when omitted.
        paths: Vec<PathBuf>,
    },
    /// Write a commented starter policy.
    Init {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run the language server over stdio (for editors).
    Lsp,
    /// Issue, list, revoke and rotate API keys.
    #[command(subcommand)]
    Keys(cmd::keys::Keys),
    /// Show the usage and remaining quota of each limit's keys (from the
    /// running gateway's admin API).
    #[command(subcommand)]
    Limits(cmd::limits::Limits),
    /// Verify audit logs.
    #[command(subcommand)]
    Audit(cmd::audit::Audit),
    /// Explain a keyword or a diagnostic code.
    Explain {
        /// A keyword (`route`, `provider.pool.max_idle`) or a code (`E0501`);
        /// `authz` with policy paths prints the Cedar schema Hapax generates.
        topic: String,
        /// With `authz`: the policy files or folders.
        paths: Vec<std::path::PathBuf>,
    },
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Check { paths, format, deny_warnings, serve } => cmd::check::run(&paths, format, deny_warnings, serve),
        Command::Fmt { paths, check } => cmd::fmt::run(&paths, check),
        Command::Test { paths } => cmd::test::run(&paths),
        Command::Graph { paths, format } => cmd::graph::run(&paths, format),
        Command::Explain { topic, paths } => cmd::explain::run(&topic, &paths),
        Command::Serve { paths } => hapax_runtime::serve(&paths),
        Command::Init { dir } => cmd::init::run(&dir),
        Command::Lsp => hapax_lsp::run(hapax_runtime::enforcement::refused()),
        Command::Keys(k) => cmd::keys::run(k),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Limits(l) => cmd::limits::run(l),
    };
    ExitCode::from(status)
}
