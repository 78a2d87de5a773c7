//! `hapax explain`.

use super::{load, print_diagnostics, FAILED, OK, USAGE};
use std::path::PathBuf;

pub fn run(topic: &str, paths: &[PathBuf]) -> u8 {
    if !paths.is_empty() {
        return match topic {
            "authz" => authz(paths),
            _ => {
                eprintln!("error: only `hapax explain authz POLICY` takes a policy");
                USAGE
            }
        };
    }
    if let Some(code) = hapax_lang::Code::parse(&topic.to_ascii_uppercase()) {
        println!("{} ({}): {}", code.as_str(), code.severity().as_str(), code.title());
        return OK;
    }
    let docs = hapax_stdlib::docs::explain(topic);
    if docs.is_empty() {
        if let Some(f) = hapax_stdlib::functions::lookup(topic) {
            println!("{}({}) -> {}\n  {}", f.name, f.params.join(", "), f.returns, f.summary);
            return OK;
        }
        eprintln!(
            "error: nothing is called `{topic}`; try a block (`route`), a setting (`route.retry`) or a code (`E0501`)"
        );
        return USAGE;
    }
    for d in docs {
        let place = if d.context.is_empty() { "top-level block".to_string() } else { format!("in `{}`", d.context) };
        println!("{} ({place})\n  {}\n  syntax:  {}\n  example: {}\n", d.key, d.summary, d.syntax, d.example);
    }
    OK
}

/// The Cedar schema for a policy, then its policies' count.
fn authz(paths: &[PathBuf]) -> u8 {
    let checked = match load(paths, hapax_lang::Mode::Check) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if checked.diags.has_errors() {
        print_diagnostics(&checked);
        return FAILED;
    }
    print!("{}", hapax_lang::authz::schema_text(&checked.graph));
    match checked.graph.authz.as_ref().and_then(|a| a.compiled.as_ref()) {
        Some(c) => eprintln!("{} Cedar policies (the built-in `hapax.admin_role` included) check against it", c.len()),
        None => eprintln!("the policy declares no `authz`: every request is allowed"),
    }
    OK
}
