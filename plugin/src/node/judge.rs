//! The chain side of a deal as the nodes see it: the [`Judge`] trait, and [`InProcessEscrow`],
//! the judge's books kept in memory with the judge actor's own voucher and evidence checks.

use std::collections::BTreeMap;

use ozkcp_core::deal::DealTerms;
use ozkcp_core::evidence::{verify_evidence, Evidence, EvidenceError, Fault, NoProofVerifier};
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::sig::Secp256k1;
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_core::TokenAmount;

/// The chain side of one deal, as the nodes use it.
pub trait Judge {
    /// The client locks `amount` for the deal and the provider locks its collateral; both have
    /// landed when this returns `Ok`.
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String>;
    /// Funds the client has locked for the deal (paid or not), as the provider reads them.
    fn funds(&self) -> Option<TokenAmount>;
    /// The provider redeems voucher `v` of interval `j` by revealing `key`.
    fn redeem(
        &mut self,
        terms: &DealTerms,
        j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String>;
    /// The client submits evidence; returns the fault the judge found.
    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String>;
    /// The deadlines pass and the deal settles.
    fn settle(&mut self, terms: &DealTerms);
    /// The provider's side of opening: once the client has locked its funds (its
    /// `StartTransfer` arrived), the provider locks its collateral under the terms it signed,
    /// before any data leaves. A judge whose [`Judge::open`] locks both sides at once keeps
    /// this default.
    fn accept(&mut self, _terms: &DealTerms) -> Result<(), String> {
        Ok(())
    }
}

/// The judge's books for one deal, kept in process with the judge's own checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProcessEscrow {
    /// What the client locked for the deal at the start.
    pub deposit: TokenAmount,
    /// The client's funds still locked for the provider.
    pub locked: TokenAmount,
    /// The provider's collateral.
    pub collateral: TokenAmount,
    /// Paid out to the provider by redeemed vouchers.
    pub paid_to_provider: TokenAmount,
    /// Returned to the client (refunds, unspent funds, slashed collateral).
    pub returned_to_client: TokenAmount,
    /// Keys revealed on chain by redemption, by interval.
    pub revealed: BTreeMap<u32, [u8; 32]>,
    /// Highest voucher nonce redeemed.
    pub nonce: Option<u64>,
    /// Whether the provider was slashed.
    pub slashed: bool,
}

impl Judge for InProcessEscrow {
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String> {
        *self = InProcessEscrow::new(amount.clone(), terms.proposal.collateral.clone());
        Ok(())
    }

    fn funds(&self) -> Option<TokenAmount> {
        Some(self.locked.clone())
    }

    fn redeem(
        &mut self,
        terms: &DealTerms,
        j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        InProcessEscrow::redeem(self, terms, j, v, key)
    }

    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String> {
        InProcessEscrow::dispute(self, terms, evidence).map_err(|e| e.to_string())
    }

    fn settle(&mut self, _: &DealTerms) {
        InProcessEscrow::settle(self)
    }
}

impl InProcessEscrow {
    /// Empty books: nothing locked yet.
    pub fn empty() -> Self {
        InProcessEscrow::new(TokenAmount::from_atto(0), TokenAmount::from_atto(0))
    }

    fn new(locked: TokenAmount, collateral: TokenAmount) -> Self {
        InProcessEscrow {
            deposit: locked.clone(),
            locked,
            collateral,
            paid_to_provider: TokenAmount::from_atto(0),
            returned_to_client: TokenAmount::from_atto(0),
            revealed: BTreeMap::new(),
            nonce: None,
            slashed: false,
        }
    }

    /// Redeems a voucher with its key: the key must open the voucher's lock, the nonce must be
    /// new and the cumulative amount within the locked funds.
    fn redeem(
        &mut self,
        terms: &DealTerms,
        j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        v.verify_signature(&terms.proposal.client, &Secp256k1)
            .map_err(|e| e.to_string())?;
        if key.lock().0.as_slice() != v.secret_pre_image.as_slice() {
            return Err("key does not open the voucher's lock".into());
        }
        if self.nonce.is_some_and(|n| v.nonce <= n) {
            return Err("voucher nonce already redeemed".into());
        }
        if v.amount > self.locked || self.slashed {
            return Err("voucher exceeds the locked funds".into());
        }
        let due = v.amount.clone() - self.paid_to_provider.clone();
        self.paid_to_provider += due;
        self.nonce = Some(v.nonce);
        self.revealed.insert(j, *key.expose());
        Ok(())
    }

    /// Judges evidence with the judge's function; a proven fault slashes the collateral to the
    /// client and refunds everything paid.
    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, EvidenceError> {
        let fault = verify_evidence(terms, evidence, &Secp256k1, &NoProofVerifier)?;
        self.slashed = true;
        // Everything locked comes back (what was paid included) and the collateral with it.
        self.returned_to_client += self.locked.clone() + self.collateral.clone();
        self.paid_to_provider = TokenAmount::from_atto(0);
        self.locked = TokenAmount::from_atto(0);
        self.collateral = TokenAmount::from_atto(0);
        Ok(fault)
    }

    /// After the deadlines: the client's unspent funds go back.
    fn settle(&mut self) {
        let unspent = self.locked.clone() - self.paid_to_provider.clone();
        if unspent > TokenAmount::from_atto(0) {
            self.returned_to_client += unspent;
        }
        self.locked = self.paid_to_provider.clone();
    }
}

impl<J: Judge + ?Sized> Judge for Box<J> {
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String> {
        (**self).open(terms, amount)
    }
    fn funds(&self) -> Option<TokenAmount> {
        (**self).funds()
    }
    fn redeem(
        &mut self,
        terms: &DealTerms,
        j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        (**self).redeem(terms, j, v, key)
    }
    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String> {
        (**self).dispute(terms, evidence)
    }
    fn settle(&mut self, terms: &DealTerms) {
        (**self).settle(terms)
    }
    fn accept(&mut self, terms: &DealTerms) -> Result<(), String> {
        (**self).accept(terms)
    }
}
