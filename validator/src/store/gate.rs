//! The gate itself: steps 1 to 5 of the module's docs for a batch of
//! items, and the outcomes told as events.

use super::*;

impl<P: Preset> ValidatorStore<P> {
    /// Steps 1 to 3 for one message, under the registry's read lock.
    pub(super) fn admit(
        &self,
        reg: &Registry,
        item: &Item<P>,
    ) -> Result<(PublicKeyBytes, Option<u64>, SigningMethod), Refusal> {
        let entry = match item.key {
            KeyRef::Index { index, claimed } => {
                let e = reg.by_index(index).ok_or(Refusal::UnknownValidator { index })?;
                if let Some(claimed) = claimed {
                    if claimed != e.pubkey {
                        return Err(Refusal::KeyMismatch { index, claimed, ours: e.pubkey });
                    }
                }
                e
            }
            KeyRef::Pubkey(pk) => reg.get(&pk).ok_or(Refusal::UnknownKey { pubkey: pk })?,
        };
        if !entry.may_sign {
            return Err(Refusal::Doppelganger { pubkey: entry.pubkey });
        }
        if let Some(leases) = &self.leases {
            leases.check(&entry.pubkey)?;
        }
        if let Err(ahead) = &item.dated {
            return Err(Refusal::AheadOfClock { reason: ahead.clone() });
        }
        match item.pays {
            Pays::Nothing => {}
            Pays::To(pays) => policy::check_payment(&entry.pubkey, &entry.config, pays)?,
            Pays::Builder { asked } => {
                policy::check_builder_block(&entry.pubkey, &entry.config, asked, entry.registered)?
            }
            Pays::Bid { to, builder_index, asked } => {
                policy::check_gloas_block(&entry.pubkey, &entry.config, to, builder_index, asked)?
            }
            Pays::Envelope { to, builder_index } => {
                policy::check_envelope(&entry.pubkey, &entry.config, to, builder_index)?
            }
        }
        Ok((entry.pubkey, entry.index, entry.method))
    }

    /// The gate: resolve, doppelganger, policy, slashing, sign.
    pub(super) async fn gate(&self, kind: MessageKind, slot: Slot, items: Vec<Item<P>>) -> Vec<Outcome> {
        let _in_flight = self.in_flight.read().await;
        let mut out: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut pending: Vec<Resolved<P>> = Vec::with_capacity(items.len());
        {
            let reg = self.read();
            let mut slashable_keys: HashSet<PublicKeyBytes> = HashSet::with_capacity(items.len());
            for (pos, item) in items.iter().enumerate() {
                let index = match item.key {
                    KeyRef::Index { index, .. } => Some(index),
                    KeyRef::Pubkey(_) => None,
                };
                match self.admit(&reg, item) {
                    Ok((pubkey, idx, method)) => {
                        if !matches!(item.slashable, Slashable::No) && !slashable_keys.insert(pubkey) {
                            out[pos] = Some(self.refuse(kind, slot, index, Refusal::DuplicateInBatch { pubkey }));
                            continue;
                        }
                        pending.push(Resolved {
                            pos,
                            pubkey,
                            index: idx,
                            method,
                            root: item.root,
                            slashable: item.slashable,
                            remote: item.remote.clone(),
                        });
                    }
                    Err(reason) => out[pos] = Some(self.refuse(kind, slot, index, reason)),
                }
            }
        }
        let mut pending = self.check_slashing(kind, slot, pending, &mut out).await;
        if let Some(leases) = &self.leases {
            // The slashing transaction may have waited (a slow or cut-off
            // database): a lease that ran out meanwhile signs nothing. Its
            // record stays, which only makes later signing stricter.
            pending.retain(|r| match leases.check(&r.pubkey) {
                Ok(()) => true,
                Err(reason) => {
                    out[r.pos] = Some(self.refuse(kind, slot, r.index, reason));
                    false
                }
            });
        }
        let (local, remote): (Vec<Resolved<P>>, Vec<Resolved<P>>) =
            pending.into_iter().partition(|r| matches!(r.method, SigningMethod::Local(_)));
        let started = std::time::Instant::now();
        let (local_signed, remote_signed) = tokio::join!(self.sign_local(&local), self.sign_remote(&remote));
        if let Some(h) = &self.timings.signing {
            if !local.is_empty() || !remote.is_empty() {
                h.observe(started.elapsed().as_secs_f64());
            }
        }
        match local_signed {
            Ok(sigs) => {
                for (r, s) in local.iter().zip(sigs) {
                    out[r.pos] = Some(Outcome::Signed(s));
                }
            }
            Err(e) => {
                let f = Failure::Signer { fault: SignerFault::Engine, reason: e.to_string() };
                self.fail(kind, slot, &local, &mut out, f)
            }
        }
        let mut failed: Vec<(Failure, Vec<&Resolved<P>>)> = Vec::new();
        for (r, result) in remote.iter().zip(remote_signed) {
            match result {
                Ok(s) => out[r.pos] = Some(Outcome::Signed(s)),
                Err(RemoteError::Refused { status, message, .. }) if (400..500).contains(&status) => {
                    out[r.pos] =
                        Some(self.refuse(kind, slot, r.index, Refusal::RemoteSigner { status, reason: message }));
                }
                Err(e) => {
                    let f = Failure::Signer { fault: e.fault(), reason: e.to_string() };
                    match failed.iter_mut().find(|(g, _)| *g == f) {
                        Some((_, v)) => v.push(r),
                        None => failed.push((f, vec![r])),
                    }
                }
            }
        }
        for (f, which) in failed {
            for r in &which {
                out[r.pos] = Some(Outcome::Failed(f.clone()));
            }
            self.events.emit(Event::Failed { kind, slot, count: which.len(), reason: f });
        }
        out.into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Failed(Failure::Signer {
                    fault: SignerFault::Engine,
                    reason: "not processed".into(),
                }))
            })
            .collect()
    }

    /// Step 5, local keys: one engine batch; one signature per entry, in order.
    pub(super) async fn sign_local(&self, local: &[Resolved<P>]) -> Result<Vec<SignatureBytes>, local::LocalError> {
        if local.is_empty() {
            return Ok(Vec::new());
        }
        let work: Vec<_> = local
            .iter()
            .filter_map(|r| match r.method {
                SigningMethod::Local(h) => Some((h, r.root)),
                SigningMethod::Remote(_) => None,
            })
            .collect();
        let sigs = self.local.sign(&work).await?;
        if sigs.len() != local.len() {
            return Err(local::LocalError::Count { got: sigs.len(), asked: local.len() });
        }
        Ok(sigs)
    }

    /// Step 5, remote keys: one call per signer, all at once; one result
    /// per entry, in order.
    pub(super) async fn sign_remote(&self, remote: &[Resolved<P>]) -> Vec<Result<SignatureBytes, RemoteError>> {
        let mut out: Vec<Option<Result<SignatureBytes, RemoteError>>> = vec![None; remote.len()];
        let mut per_signer: Vec<(u32, Vec<usize>, Vec<RemoteWork<P>>)> = Vec::new();
        for (i, r) in remote.iter().enumerate() {
            let SigningMethod::Remote(id) = r.method else { continue };
            let req = match &r.remote {
                Some(Ok(q)) => Arc::clone(q),
                Some(Err(why)) => {
                    out[i] = Some(Err(RemoteError::Setup { url: String::new(), reason: why.to_string() }));
                    continue;
                }
                None => {
                    let reason = "no remote request was built for a remote key".to_string();
                    out[i] = Some(Err(RemoteError::Setup { url: String::new(), reason }));
                    continue;
                }
            };
            match per_signer.iter_mut().find(|(s, _, _)| *s == id) {
                Some((_, at, work)) => {
                    at.push(i);
                    work.push((r.pubkey, req));
                }
                None => per_signer.push((id, vec![i], vec![(r.pubkey, req)])),
            }
        }
        let clients: Vec<Option<Arc<Web3SignerClient>>> = {
            let all = self.remote.read().unwrap_or_else(|p| p.into_inner());
            per_signer.iter().map(|(id, _, _)| all.get(*id as usize).cloned()).collect()
        };
        let calls = per_signer.iter().zip(&clients).map(|((_, _, work), client)| async move {
            match client {
                Some(c) => c.sign(work).await,
                None => work
                    .iter()
                    .map(|_| Err(RemoteError::Setup { url: String::new(), reason: "unknown remote signer".into() }))
                    .collect(),
            }
        });
        let answers = futures_util::future::join_all(calls).await;
        for ((_, at, _), results) in per_signer.iter().zip(answers) {
            for (i, r) in at.iter().zip(results) {
                out[*i] = Some(r);
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(RemoteError::Transport { reason: "not processed".into() })))
            .collect()
    }

    /// Step 4: one durable check-and-insert for the slashable messages;
    /// returns what may be signed.
    pub(super) async fn check_slashing(
        &self,
        kind: MessageKind,
        slot: Slot,
        pending: Vec<Resolved<P>>,
        out: &mut [Option<Outcome>],
    ) -> Vec<Resolved<P>> {
        // Remote keys are left to their signer's own protection only when
        // the operator says so (--disable-slashing-protection-web3signer).
        let skip_remote = self.remote_options.disable_local_slashing;
        let checked_here = |r: &Resolved<P>| !(skip_remote && matches!(r.method, SigningMethod::Remote(_)));
        let (slashable, free): (Vec<Resolved<P>>, Vec<Resolved<P>>) =
            pending.into_iter().partition(|r| !matches!(r.slashable, Slashable::No) && checked_here(r));
        if slashable.is_empty() {
            return free;
        }
        // The one protected batch (records built from the messages).
        let batch: Vec<ToProtect> = slashable
            .iter()
            .map(|r| ToProtect { pubkey: r.pubkey, slashable: r.slashable, signing_root: r.root })
            .collect();
        let db = Arc::clone(&self.slashing);
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || protect(db.as_ref(), &batch)).await;
        if let Some(h) = &self.timings.slashing {
            h.observe(started.elapsed().as_secs_f64());
        }
        // A database error or a dead task: nothing slashable is signed.
        let verdicts = match result {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                let f = Failure::SlashingDatabase { fault: e.fault(), reason: e.to_string() };
                self.fail(kind, slot, &slashable, out, f);
                return free;
            }
            Err(e) => {
                let f = Failure::SlashingDatabase { fault: DatabaseFault::Task, reason: e.to_string() };
                self.fail(kind, slot, &slashable, out, f);
                return free;
            }
        };
        let mut safe = free;
        for (r, protection) in slashable.into_iter().zip(verdicts) {
            match protection {
                Protection::NotSlashable | Protection::Safe(_) => safe.push(r),
                Protection::Refused(poolvc_signer::slashing::NotSafe::NotLeased) => {
                    let shard = "fenced in the slashing transaction".to_string();
                    out[r.pos] = Some(self.refuse(kind, slot, r.index, Refusal::NotLeased { pubkey: r.pubkey, shard }))
                }
                Protection::Refused(reason) => {
                    out[r.pos] = Some(self.refuse(kind, slot, r.index, Refusal::Slashable { reason }))
                }
            }
        }
        safe
    }

    pub(super) fn refuse(&self, kind: MessageKind, slot: Slot, validator: Option<u64>, reason: Refusal) -> Outcome {
        self.events.emit(Event::Refused { kind, slot, validator, reason: reason.clone() });
        Outcome::Refused(reason)
    }

    pub(super) fn fail(
        &self,
        kind: MessageKind,
        slot: Slot,
        which: &[Resolved<P>],
        out: &mut [Option<Outcome>],
        reason: Failure,
    ) {
        for r in which {
            out[r.pos] = Some(Outcome::Failed(reason.clone()));
        }
        self.events.emit(Event::Failed { kind, slot, count: which.len(), reason });
    }
}
