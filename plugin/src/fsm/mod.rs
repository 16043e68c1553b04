//! The client and provider state machines of the seed, as data.
//!
//! Each side has a declarative transition table (`event: from-states → to-state`), a pure,
//! deterministic `step` (state + event → new state + actions for the host) and entry handlers
//! that only compute actions. State is a small CBOR tuple: the host persists it after each step,
//! before it performs the actions, and can restore it at any point. `mermaid` renders a table as
//! the seed's `stateDiagram-v2` so the two can be compared.

pub mod client;
pub mod provider;
pub mod table;

pub use table::{InvalidTransition, Target, Transition};

/// The client's table as mermaid.
pub fn client_mermaid() -> String {
    table::mermaid(
        client::CLIENT_TABLE,
        client::ClientStatus::New,
        "ClientRetrieve",
        client::CLIENT_TERMINAL,
    )
}

/// The provider's table as mermaid.
pub fn provider_mermaid() -> String {
    table::mermaid(
        provider::PROVIDER_TABLE,
        provider::ProviderStatus::New,
        "RetrievalOrder",
        provider::PROVIDER_TERMINAL,
    )
}
