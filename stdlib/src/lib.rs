//! The hapax standard library: the facts about the `.hapax` language and the model market
//! that the compiler, the runtime and the editor tooling all share, kept as plain data with
//! no I/O. [`docs`] documents every keyword and expression path (for editor hover and
//! `hapax explain`), [`functions`] lists the signatures of the expression functions the
//! compiler type-checks against, and [`prices`] holds the built-in price table used for cost
//! accounting and budgets.
//!
//! The price table is the data file `stdlib/data/prices.json`, embedded at build time. It
//! holds the public list prices (USD per million tokens, standard tier, prompts below any
//! long-context surcharge threshold) that each vendor published in 2025; open-weight models
//! carry a typical hosted rate (Together AI for Llama and Qwen, the vendor's own API for
//! Mistral and DeepSeek). A `price "MODEL" { ... }` block in a policy overrides the built-in
//! entry for that model, so a deployment with negotiated rates never has to edit this file.

pub mod docs;
pub mod functions;
pub mod prices;
