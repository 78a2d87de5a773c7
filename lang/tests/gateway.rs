//! What the `gateway` block's settings compile to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

use hapax_lang::{check, load, MemFs, Mode};
use std::path::PathBuf;
use std::time::Duration;

fn busy_poll(src: &str) -> Option<Duration> {
    let mut fs = MemFs::default();
    fs.files.insert(PathBuf::from("/p/main.hapax"), src.to_string());
    let loaded = load(&[PathBuf::from("/p/main.hapax")], &fs).expect("root file exists");
    let checked = check(loaded, &fs, Mode::Check);
    checked.ok().then_some(checked.graph.gateway.busy_poll)
}

#[test]
fn busy_poll_takes_microseconds_or_off_and_defaults_to_50us() {
    assert_eq!(busy_poll("provider p { type mock }\n"), Some(Duration::from_micros(50)));
    assert_eq!(busy_poll("gateway { busy_poll 120us }\n"), Some(Duration::from_micros(120)));
    assert_eq!(busy_poll("gateway { busy_poll 0.2ms }\n"), Some(Duration::from_micros(200)));
    assert_eq!(busy_poll("gateway { busy_poll 1ms }\n"), Some(Duration::from_millis(1)));
    assert_eq!(busy_poll("gateway { busy_poll off }\n"), Some(Duration::ZERO));
    assert_eq!(busy_poll("gateway { busy_poll 0us }\n"), Some(Duration::ZERO));
    assert_eq!(busy_poll("gateway { busy_poll 2ms }\n"), None);
    assert_eq!(busy_poll("gateway { busy_poll on }\n"), None);
    assert_eq!(busy_poll("gateway { busy_poll 50 }\n"), None);
}
