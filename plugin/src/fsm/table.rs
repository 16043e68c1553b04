//! The machinery shared by both state machines: a declarative transition table, a pure step
//! function over it, and its mermaid rendering.

use core::fmt::Debug;

/// Where a transition goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<S> {
    /// To this state.
    To(S),
    /// Stays where it is (the event only updates the deal's data).
    Same,
}

/// One row of a transition table: `event: from-states → target`.
#[derive(Debug, Clone, Copy)]
pub struct Transition<S: 'static, E: 'static> {
    /// The event kind.
    pub event: E,
    /// The states it may fire in.
    pub from: &'static [S],
    /// Where it leads.
    pub to: Target<S>,
    /// Whether the seed's diagram draws it (false: added for real use, see the docs).
    pub seed: bool,
}

/// Looks up where `event` leads from `state`; `None` if the table has no such transition.
pub fn lookup<S, E>(table: &[Transition<S, E>], state: S, event: E) -> Option<S>
where
    S: Copy + PartialEq,
    E: Copy + PartialEq,
{
    table
        .iter()
        .find(|t| t.event == event && t.from.contains(&state))
        .map(|t| match t.to {
            Target::To(s) => s,
            Target::Same => state,
        })
}

/// Renders a table as a mermaid `stateDiagram-v2`, each state under its `DealStatus…` name.
///
/// `initial` is the event that creates a deal in `start`; `terminal` are the states that end it.
/// Self-loops (`Target::Same`) are drawn as such.
pub fn mermaid<S, E>(table: &[Transition<S, E>], start: S, initial: &str, terminal: &[S]) -> String
where
    S: Copy + PartialEq + Debug,
    E: Copy + Debug,
{
    let name = |s: S| format!("DealStatus{s:?}");
    let mut out = String::from("stateDiagram-v2\n");
    out.push_str(&format!("[*] --> {}: {initial}\n", name(start)));
    for t in table {
        for &from in t.from {
            let to = match t.to {
                Target::To(s) => s,
                Target::Same => from,
            };
            out.push_str(&format!("{} --> {}: {:?}\n", name(from), name(to), t.event));
        }
    }
    for &s in terminal {
        out.push_str(&format!("{} --> [*]\n", name(s)));
    }
    out
}

/// A transition the table does not have: the event is refused and the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event} is not allowed in state DealStatus{state}")]
pub struct InvalidTransition {
    /// The event, by name.
    pub event: String,
    /// The state, by name.
    pub state: String,
}
