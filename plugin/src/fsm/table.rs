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

impl<S: 'static, E: 'static> Transition<S, E> {
    /// A row the seed's diagram draws.
    pub const fn seed(event: E, from: &'static [S], to: S) -> Self {
        Transition {
            event,
            from,
            to: Target::To(to),
            seed: true,
        }
    }

    /// A row added for real use (documented in `docs/state-machines.md`).
    pub const fn added(event: E, from: &'static [S], to: Target<S>) -> Self {
        Transition {
            event,
            from,
            to,
            seed: false,
        }
    }
}

/// One side's machine: its table, how events change its data, and its entry handlers.
pub trait Machine: Clone {
    /// The states.
    type Status: Copy + PartialEq + Debug + 'static;
    /// The event kinds (the table's keys).
    type Kind: Copy + PartialEq + Debug + 'static;
    /// Events with their data.
    type Event;
    /// What the host must do.
    type Action;
    /// The transition table.
    const TABLE: &'static [Transition<Self::Status, Self::Kind>];
    /// Current state.
    fn status(&self) -> Self::Status;
    /// Moves to a state.
    fn set_status(&mut self, status: Self::Status);
    /// An event's kind.
    fn kind(event: &Self::Event) -> Self::Kind;
    /// The event's effect on the machine's data.
    fn apply(&mut self, event: &Self::Event);
    /// Entry handler of the (new) current state: actions and, for transient states, the event
    /// that follows at once.
    fn enter(&mut self, via: Self::Kind, actions: &mut Vec<Self::Action>) -> Option<Self::Event>;
}

/// Applies `event` to `machine`: the new machine and the host's actions, or the refusal (the
/// machine is taken by reference and stays as it was).
pub fn step<M: Machine>(
    machine: &M,
    event: M::Event,
) -> Result<(M, Vec<M::Action>), InvalidTransition> {
    let mut m = machine.clone();
    let mut actions = Vec::new();
    // Follow-up events come from entry handlers; they move the machine but carry no news, so
    // they do not touch its data.
    let mut next = Some((event, false));
    while let Some((event, follow_up)) = next.take() {
        let kind = M::kind(&event);
        let to = lookup(M::TABLE, m.status(), kind).ok_or_else(|| InvalidTransition {
            event: format!("{kind:?}"),
            state: format!("{:?}", m.status()),
        })?;
        if !follow_up {
            m.apply(&event);
        }
        let moved = to != m.status();
        m.set_status(to);
        if moved {
            next = m.enter(kind, &mut actions).map(|e| (e, true));
        }
    }
    Ok((m, actions))
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
