//! Times the phases of checking a generated 10k-route policy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "an example program fails loudly")]
use hapax_lang::{check, load, MemFs, Mode};
use std::path::PathBuf;
use std::time::Instant;

fn cpu() -> std::time::Duration {
    let t = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let f: Vec<&str> = t.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 =
        f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0) + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

fn main() {
    let mut s = String::from("provider p { type mock }\nlimit l { by client.id; requests 600 per 1m }\n\n");
    for i in 0..10_000 {
        s.push_str(&format!("route r{i} {{\n  match POST \"/v1/chat/completions\"\n  when  request.model == \"model-{i}\" and client.tier == \"gold\"\n  use   l\n  to    p model \"m{i}\"\n}}\n"));
    }
    let t = Instant::now();
    let c0 = cpu();
    let ok = hapax_lang::syntax::parser::pest_only(&s);
    println!("pest only: {:?} ok={ok}", (t.elapsed(), cpu() - c0));
    let t = Instant::now();
    let c0 = cpu();
    let (_ast, e) = hapax_lang::syntax::parse(hapax_lang::span::FileId(0), &s);
    println!("parse: {:?} ({} errors)", (t.elapsed(), cpu() - c0), e.len());
    let t = Instant::now();
    let c0 = cpu();
    let _c = hapax_lang::syntax::comments::collect_comments(&s);
    println!("comments: {:?}", (t.elapsed(), cpu() - c0));
    let mut fs = MemFs::default();
    fs.files.insert(PathBuf::from("/b/main.hapax"), s);
    let t = Instant::now();
    let c0 = cpu();
    let loaded = load(&[PathBuf::from("/b/main.hapax")], &fs).unwrap();
    println!("load: {:?}", (t.elapsed(), cpu() - c0));
    let t = Instant::now();
    let c0 = cpu();
    let c = check(loaded, &fs, Mode::Check);
    println!("check: {:?} ok={}", (t.elapsed(), cpu() - c0), c.ok());
}
