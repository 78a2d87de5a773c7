//! The types the phases pass: the request as it arrived and as the policy
//! sees it ([`ingress`]), the response and its body, and the error every
//! phase may fail with, with the one function that turns it into the
//! client's answer.

pub mod ascii;
pub mod body;
pub mod error;
pub mod ingress;
pub mod request;
pub mod response;
