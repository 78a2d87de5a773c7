//! How a `split` picks its arm: by weight from a random roll, or, with
//! `split by`, the same arm for the same key every time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

use hapax_lang::expr::{ClientInfo, RequestView};
use hapax_lang::{check, load, Graph, MemFs, Mode};
use std::path::PathBuf;

fn graph(src: &str) -> Graph {
    let mut fs = MemFs::default();
    fs.files.insert(PathBuf::from("/p/main.hapax"), src.to_string());
    let loaded = load(&[PathBuf::from("/p/main.hapax")], &fs).expect("root file exists");
    let checked = check(loaded, &fs, Mode::Check);
    assert!(checked.ok(), "the policy checks");
    checked.graph
}

/// A request that only has an `x-user` header.
struct User(String);

impl RequestView for User {
    fn method(&self) -> &str {
        "POST"
    }
    fn path(&self) -> &str {
        "/v1/chat/completions"
    }
    fn model(&self) -> Option<&str> {
        None
    }
    fn stream(&self) -> bool {
        false
    }
    fn tokens(&self) -> u64 {
        0
    }
    fn header(&self, name: &str) -> Option<&str> {
        (name == "x-user").then_some(self.0.as_str())
    }
    fn body(&self) -> Option<&serde_json::Value> {
        None
    }
    fn client(&self) -> Option<&ClientInfo> {
        None
    }
}

const POLICY: &str = r#"
provider a { type mock }
provider b { type mock }
route random {
  match POST "/v1/chat/completions"
  when  request.header["x-sticky"] == "no"
  split {
    70% -> a model "first"
    30% -> b model "second"
  }
}
route sticky {
  match POST "/v1/chat/completions"
  split by request.header["x-user"] {
    70% -> a model "first"
    30% -> b model "second"
  }
}
"#;

fn arm(g: &Graph, route: usize, req: &User, roll: u64) -> String {
    g.routes[route].pick(req, roll).model.clone().expect("arms name models")
}

#[test]
fn a_split_without_by_follows_its_weights() {
    let g = graph(POLICY);
    let req = User("u".into());
    // Every roll modulo 10,000 once: the arms get exactly their weights.
    let first = (0..10_000u64).filter(|roll| arm(&g, 0, &req, *roll) == "first").count();
    assert_eq!(first, 7_000);
    // A roll is reduced modulo 10,000, so any u64 picks an arm.
    assert_eq!(arm(&g, 0, &req, u64::MAX), arm(&g, 0, &req, u64::MAX % 10_000));
}

#[test]
fn a_split_by_a_key_keeps_each_key_on_one_arm() {
    let g = graph(POLICY);
    let mut first = 0;
    for n in 0..1_000 {
        let req = User(format!("user-{n}"));
        let chosen = arm(&g, 1, &req, 0);
        for roll in [1, 4_999, 9_999, u64::MAX] {
            assert_eq!(arm(&g, 1, &req, roll), chosen, "user-{n} moved arms");
        }
        if chosen == "first" {
            first += 1;
        }
    }
    // The keys spread over both arms near the weights (the hash is fixed,
    // so this count is too).
    assert!((600..=800).contains(&first), "{first} of 1,000 users on the 70% arm");
}
