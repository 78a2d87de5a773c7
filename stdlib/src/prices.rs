//! The built-in model price table, used for cost accounting and budgets when a policy has
//! no `price` block for a model.
//!
//! The table is the data file `data/prices.json`, embedded in the binary and parsed on
//! first use, so updating a price is a data change with no code to touch.

use std::sync::OnceLock;

/// The price of one model, in USD per million tokens, and its context window.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct ModelPrice {
    /// The model name as providers spell it, without a date suffix (`gpt-4o`).
    pub model: String,
    /// Who publishes the model (`openai`, `anthropic`, `google`, `meta`, ...).
    pub provider: String,
    /// Price of prompt tokens not served from the provider's prompt cache.
    pub input_per_mtok: f64,
    /// Price of completion tokens.
    pub output_per_mtok: f64,
    /// Price of prompt tokens read from the provider's prompt cache, when it has one.
    pub cached_input_per_mtok: Option<f64>,
    /// The most tokens (prompt plus completion) one call may hold.
    pub context_window: u64,
    /// The most tokens one answer may hold, where the provider fixes it.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
}

const PRICES_JSON: &str = include_str!("../data/prices.json");

/// Every built-in price, in the order of the data file.
pub fn table() -> &'static [ModelPrice] {
    static TABLE: OnceLock<Vec<ModelPrice>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The file is embedded at build time and never changes at run time, and the unit
        // test `table_parses_without_duplicates` parses it, so this cannot fail in a build
        // whose tests pass.
        #[expect(clippy::expect_used, reason = "embedded data, parsed by a unit test")]
        let table = serde_json::from_str(PRICES_JSON).expect("embedded data/prices.json is valid");
        table
    })
}

/// The price of `model`.
///
/// An exact match wins; otherwise the longest entry that is a prefix of `model` followed by
/// `-` is used, so the dated `gpt-4o-2024-08-06` finds `gpt-4o` and
/// `gpt-4o-mini-2024-07-18` finds `gpt-4o-mini`.
pub fn lookup(model: &str) -> Option<&'static ModelPrice> {
    let table = table();
    if let Some(exact) = table.iter().find(|p| p.model == model) {
        return Some(exact);
    }
    table
        .iter()
        .filter(|p| model.strip_prefix(p.model.as_str()).is_some_and(|rest| rest.starts_with('-')))
        .max_by_key(|p| p.model.len())
}

/// The cost in USD of one call.
///
/// The three token counts are disjoint: `input_tokens` are prompt tokens billed at the full
/// input price, `cached_input_tokens` are prompt tokens read from the provider's prompt
/// cache (billed at the full input price when the model has no cached price), and
/// `output_tokens` are completion tokens. A caller holding OpenAI-style usage, where
/// `prompt_tokens` includes the cached ones, passes `prompt_tokens - cached_tokens`.
pub fn cost_usd(p: &ModelPrice, input_tokens: u64, cached_input_tokens: u64, output_tokens: u64) -> f64 {
    let cached_rate = p.cached_input_per_mtok.unwrap_or(p.input_per_mtok);
    (input_tokens as f64 * p.input_per_mtok
        + cached_input_tokens as f64 * cached_rate
        + output_tokens as f64 * p.output_per_mtok)
        / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn table_parses_without_duplicates() {
        let parsed: Vec<ModelPrice> = serde_json::from_str(PRICES_JSON).unwrap();
        assert_eq!(parsed, table());
        assert!(table().len() >= 37, "table has {} entries", table().len());
        for (i, p) in table().iter().enumerate() {
            assert!(!table()[..i].iter().any(|q| q.model == p.model), "duplicate model `{}`", p.model);
            assert!(!p.model.is_empty() && !p.provider.is_empty());
            for price in
                [Some(p.input_per_mtok), Some(p.output_per_mtok), p.cached_input_per_mtok].into_iter().flatten()
            {
                assert!(price.is_finite() && price >= 0.0, "`{}` has a negative or non-finite price", p.model);
            }
            if let Some(cached) = p.cached_input_per_mtok {
                assert!(cached <= p.input_per_mtok, "`{}` charges more for cached input than for input", p.model);
            }
            assert!(p.context_window > 0, "`{}` has no context window", p.model);
        }
    }

    #[test]
    fn table_has_the_required_models() {
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "o1",
            "o3",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "text-embedding-3-small",
            "text-embedding-3-large",
            "claude-opus-4-1",
            "claude-opus-4",
            "claude-sonnet-4-5",
            "claude-sonnet-4",
            "claude-3-7-sonnet",
            "claude-3-5-haiku",
            "claude-haiku-4-5",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.0-flash",
            "gemini-1.5-pro",
            "llama-3.1-8b",
            "llama-3.1-70b",
            "llama-3.1-405b",
            "llama-3.3-70b",
            "mistral-large",
            "mixtral-8x7b",
            "deepseek-v3",
            "deepseek-r1",
            "qwen2.5-72b",
            "mock",
        ] {
            assert_eq!(table().iter().filter(|p| p.model == model).count(), 1, "`{model}` is missing");
        }
        let mock = lookup("mock").unwrap();
        assert_eq!(cost_usd(mock, 1_000_000, 1_000_000, 1_000_000), 0.0);
    }

    #[test]
    fn lookup_exact_and_dated_names() {
        assert_eq!(lookup("gpt-4o").unwrap().model, "gpt-4o");
        assert_eq!(lookup("gpt-4o-2024-08-06").unwrap().model, "gpt-4o");
        // The longest prefix wins: `gpt-4o` is also a prefix followed by `-`.
        assert_eq!(lookup("gpt-4o-mini-2024-07-18").unwrap().model, "gpt-4o-mini");
        assert_eq!(lookup("o3-mini-2025-01-31").unwrap().model, "o3-mini");
        assert_eq!(lookup("o1-2024-12-17").unwrap().model, "o1");
        assert_eq!(lookup("gpt-4-turbo-2024-04-09").unwrap().model, "gpt-4-turbo");
        assert_eq!(lookup("claude-sonnet-4-20250514").unwrap().model, "claude-sonnet-4");
        assert_eq!(lookup("claude-sonnet-4-5-20250929").unwrap().model, "claude-sonnet-4-5");
        assert_eq!(lookup("claude-3-5-haiku-20241022").unwrap().model, "claude-3-5-haiku");
        assert_eq!(lookup("gpt-4.1-mini-2025-04-14").unwrap().model, "gpt-4.1-mini");
    }

    #[test]
    fn lookup_requires_a_dash_after_the_prefix() {
        // `gpt-4o` is a prefix of `gpt-4ox` but not followed by `-`.
        assert!(lookup("gpt-4ox").is_none());
        // `o1` must not match `o1x-...`, and `gpt-4` alone is not in the table.
        assert!(lookup("o1x-2024").is_none());
        assert!(lookup("gpt-4-0613").is_none());
        assert!(lookup("").is_none());
        assert!(lookup("unknown-model").is_none());
    }

    #[test]
    fn cost_of_a_call() {
        let gpt4o = lookup("gpt-4o").unwrap();
        // 1M uncached input at 2.50 + 1M cached at 1.25 + 1M output at 10.
        assert!(close(cost_usd(gpt4o, 1_000_000, 1_000_000, 1_000_000), 13.75));
        // 1000 input and 500 output tokens: 0.0025 + 0.005.
        assert!(close(cost_usd(gpt4o, 1_000, 0, 500), 0.0075));
        assert_eq!(cost_usd(gpt4o, 0, 0, 0), 0.0);
    }

    #[test]
    fn cached_input_without_cached_price_costs_full_input() {
        let turbo = lookup("gpt-4-turbo").unwrap();
        assert!(turbo.cached_input_per_mtok.is_none());
        assert!(close(cost_usd(turbo, 0, 1_000_000, 0), turbo.input_per_mtok));
        let custom = ModelPrice {
            model: "custom".into(),
            provider: "local".into(),
            input_per_mtok: 4.0,
            output_per_mtok: 8.0,
            cached_input_per_mtok: Some(1.0),
            context_window: 8192,
            max_output_tokens: None,
        };
        assert!(close(cost_usd(&custom, 500_000, 250_000, 125_000), 2.0 + 0.25 + 1.0));
    }
}
