//! The administrators' handle on the engine ([`SnapshotControl`]).

use std::sync::Arc;

use super::*;

/// What administrators may do with the snapshot, and nothing more: its sync status and lock
/// state, "sync now", and list, verify, roll back, promote and pin generations by number. Nothing here
/// reads a patient: the admin pages get this handle, never the [`Store`], the [`Engine`] or a
/// [`SnapshotReader`], so an admin page cannot show patient data unaudited.
#[derive(Debug, Clone)]
pub struct SnapshotControl {
    engine: Arc<Engine>,
}

impl Engine {
    /// The administrators' handle on this engine.
    pub fn control(self: &Arc<Self>) -> SnapshotControl {
        SnapshotControl {
            engine: self.clone(),
        }
    }
}

impl SnapshotControl {
    /// Progress and outcome of syncs, the current generation, the integrity and quarantine
    /// alerts.
    pub fn status(&self) -> SyncStatus {
        self.engine.status()
    }

    /// Whether the encrypted snapshot is locked (its key not in memory); `None` when this
    /// engine serves no reader.
    pub fn is_locked(&self) -> Option<bool> {
        self.engine.reader.as_ref().map(SnapshotReader::is_locked)
    }

    /// Every generation kept, oldest first (counts and times, no patient data).
    pub fn generations(&self) -> Result<Vec<crate::store::GenerationInfo>, StoreError> {
        self.engine.store.list()
    }

    /// The current generation's manifest, if any.
    pub fn current(&self) -> Result<Option<crate::store::Manifest>, StoreError> {
        self.engine.store.current()
    }

    /// One generation's manifest ([`StoreError`] if there is none with that number).
    pub fn manifest(&self, generation: u64) -> Result<crate::store::Manifest, StoreError> {
        self.engine.store.manifest(generation)
    }

    /// Re-checks a generation's items against its manifest ([`Store::verify`]).
    pub fn verify(&self, generation: u64) -> Result<crate::store::VerifyReport, StoreError> {
        self.engine.store.verify(generation)
    }

    /// [`Engine::rollback`].
    pub fn rollback(&self, generation: u64) -> Result<crate::store::Manifest, StoreError> {
        self.engine.rollback(generation)
    }

    /// [`Engine::promote`]: serve a quarantined generation after all.
    pub fn promote(&self, generation: u64) -> Result<crate::store::Manifest, StoreError> {
        self.engine.promote(generation)
    }

    /// Keeps a generation through retention (or lets it go).
    pub fn set_pinned(
        &self,
        generation: u64,
        pinned: bool,
    ) -> Result<crate::store::Manifest, StoreError> {
        self.engine.store.set_pinned(generation, pinned)
    }

    /// [`Engine::sync_now`].
    pub fn sync_now(
        &self,
        full: bool,
        cancel: &CancellationToken,
    ) -> Result<SyncReport, SyncError> {
        self.engine.sync_now(full, cancel)
    }

    /// [`Engine::clear_integrity_alert`].
    pub fn clear_integrity_alert(&self) -> Result<(), SyncError> {
        self.engine.clear_integrity_alert()
    }
}
