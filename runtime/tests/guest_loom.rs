//! Loom model of the guest reader slots (`tile::guests`): a supervisor reaping a slot whose
//! owner it saw die must never put a live guest's quiescent words offline, even when the old
//! owner released the slot and a new guest claimed it between the reaper's look and its act.
//! Run with `--release`; the model fails if `reap` loads the owner instead of claiming it by
//! CAS before clearing the words.

mod loom_support;

use core::sync::atomic::Ordering;
use loom_support::LoomWord;

use loom::sync::atomic::{AtomicBool, AtomicU64};
use loom::sync::Arc;
use netbase_runtime::sync::qsbr::OFFLINE;
use netbase_runtime::sync::Word;
use netbase_runtime::tile::guests::GuestSlots;
use netbase_runtime::tile::guests::SLOT_WORDS;

const OLD: u32 = 7;
const NEW: u32 = 9;
/// Reader table (QSBR slot) the guests go online for.
const TABLE: usize = 1;

#[test]
fn reaper_never_offlines_a_live_guest() {
    loom::model(|| {
        // One slot (the protocol is per slot). Leaked so that a claimed slot can move to the
        // old owner's thread; 72 bytes per execution.
        let words: &'static [LoomWord] = Vec::leak(
            (0..SLOT_WORDS)
                .map(|_| LoomWord(AtomicU64::new(0)))
                .collect(),
        );
        let epoch: &'static LoomWord = Box::leak(Box::new(LoomWord(AtomicU64::new(3))));
        let old_owner_dead = Arc::new(AtomicBool::new(false));
        let slots = GuestSlots::over(words).unwrap();
        slots.initialize();
        let old = slots.claim(OLD).unwrap();
        assert_eq!(old.index(), 0);
        old.reader(TABLE, epoch).unwrap().online();

        let dead = Arc::clone(&old_owner_dead);
        let old_owner = loom::thread::spawn(move || {
            drop(old); // finishes normally: words offline, slot free, then the process is gone
            dead.store(true, Ordering::Release);
        });

        let new_guest = loom::thread::spawn(move || {
            let slot = slots.claim(NEW)?;
            slot.reader(TABLE, epoch).unwrap().online();
            // Still reading when the model ends: the slot must keep its words online.
            let index = slot.index();
            core::mem::forget(slot);
            Some(index)
        });

        let dead = Arc::clone(&old_owner_dead);
        let reaper = loom::thread::spawn(move || {
            slots.reap(|pid| pid == OLD && dead.load(Ordering::Acquire))
        });

        old_owner.join().unwrap();
        let claimed = new_guest.join().unwrap();
        reaper.join().unwrap();
        if let Some(slot) = claimed {
            let word = words[slot * SLOT_WORDS + 1 + TABLE].load(Ordering::Acquire);
            assert_ne!(
                word, OFFLINE,
                "a live guest's quiescent word was put offline"
            );
            assert_eq!(
                words[slot * SLOT_WORDS].load(Ordering::Acquire),
                u64::from(NEW)
            );
        }
    });
}
