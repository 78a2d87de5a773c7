//! `hapax explain`.

use super::{OK, USAGE};

pub fn run(topic: &str) -> u8 {
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
