//! Round trips of the blobs through a real (in-memory) redb store: sealed multi-chunk
//! blobs, the chain, and the base layout.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use redb::ReadableTable;

use super::chunks::{parse_row_key, row_key, Chain, CHAIN_START};
use super::format::encode_base;
use super::*;
use crate::crypto::{Keyring, Sealer};
use crate::model::Sex;
use crate::store::tables::EpochTable;
use crate::store::{IndexEntry, Manifest, Store, StoreError};

fn patient(kanji: &str, kana: &str, id: &str, birth: (i32, u32, u32)) -> IndexEntry {
    IndexEntry::Patient {
        hospital_id: Some(id.into()),
        name_kanji: Some(kanji.into()),
        name_kana: Some(kana.into()),
        sex: Sex::Female,
        birth_date: NaiveDate::from_ymd_opt(birth.0, birth.1, birth.2),
    }
}

fn manifest(generation: u64, chain: String) -> Manifest {
    Manifest {
        generation,
        epoch: generation,
        parent: None,
        kind: crate::store::GenerationKind::Full,
        created_at: Utc::now(),
        high_water: None,
        counts: Default::default(),
        index_entries: 0,
        set_hash: String::new(),
        pinned: false,
        source: String::new(),
        written: 0,
        removed: 0,
        key_ids: vec![generation],
        index_chain: chain,
        quarantine: None,
    }
}

/// The chain over the rows as they are now (what someone rewriting the manifest too
/// would put there).
fn chain_of(store: &Store, epoch: u64) -> String {
    let txn = store.begin_read().unwrap();
    let name = EpochTable::Index.of(epoch);
    let t = txn.open_table(name.def()).unwrap();
    let mut c = Chain::new(CHAIN_START);
    for row in t.iter().unwrap() {
        let (k, v) = row.unwrap();
        let (g, n) = parse_row_key(k.value()).unwrap();
        c.row(g, n, v.value());
    }
    c.finish()
}

fn edit_rows(store: &Store, epoch: u64, f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>)) {
    let txn = store.begin_write().unwrap();
    {
        let name = EpochTable::Index.of(epoch);
        let mut t = txn.open_table(name.def()).unwrap();
        f(&mut t);
    }
    txn.commit().unwrap();
}

#[test]
fn a_multi_chunk_sealed_blob_opens_and_chunks_cannot_be_swapped_or_dropped() {
    let db = redb::Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap();
    let (pk, sk) = crate::crypto::generate();
    let store = Store::from_database(
        db,
        super::super::StoreOptions {
            public_key: Some(pk),
            ..Default::default()
        },
    )
    .unwrap();
    let g = 7;
    let (sealer, wrapped) = Sealer::new(&pk, g);
    let ring = Keyring::unwrap_all(&sk, [(g, wrapped.as_slice())], None).unwrap();
    let mut acc = Accumulator::new(g);
    let n = 40_000u32;
    for i in 0..n {
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&i.to_be_bytes());
        let e = patient(
            &format!("山田 {i}"),
            &format!("ヤマダ {i}"),
            &format!("{i:09}"),
            (1950, 1, 1 + i % 28),
        );
        acc.upsert(1, key, key, Arc::new(Entry::new(e)));
    }
    let txn = store.begin_write().unwrap();
    let chain = acc.write(&txn, g, true, Some(&sealer), None).unwrap();
    txn.commit().unwrap();
    let m = manifest(g, chain);
    let blobs = store.read_index(&m, Some(&ring), None).unwrap();
    assert!(blobs.plaintext_bytes() > 4 * CHUNK as u64, "{blobs:?}");
    let base = blobs.base.as_ref().unwrap();
    assert_eq!(base.patients(), n as usize);
    let hit: Vec<u32> = base.with_id(b"31337").collect();
    assert_eq!(base.pk(hit[0])[..4], 31337u32.to_be_bytes());
    let q = crate::text::normalize_name("ヤマダ 3999");
    assert_eq!(
        base.names_with_prefix(q.as_bytes()).count(),
        11,
        "3999, 39990..39999"
    );
    assert!(matches!(
        store.read_index(&m, None, None),
        Err(StoreError::Locked)
    ));
    assert_eq!(verify_blobs_now(&store, &m), (true, 0));

    // Swap two chunks, and rewrite the chain to match: the AEAD binds each chunk's
    // index, so opening fails (damage, not data).
    let swap = |t: &mut redb::Table<&[u8], &[u8]>| {
        let a = t
            .get(row_key(g, 1).as_slice())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        let b = t
            .get(row_key(g, 2).as_slice())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        t.insert(row_key(g, 1).as_slice(), b.as_slice()).unwrap();
        t.insert(row_key(g, 2).as_slice(), a.as_slice()).unwrap();
    };
    edit_rows(&store, g, swap);
    assert!(matches!(
        store.read_index(&m, Some(&ring), None),
        Err(StoreError::Corrupt(_))
    ));
    assert!(
        !verify_blobs_now(&store, &m).0,
        "the chain no longer matches"
    );
    let forged = manifest(g, chain_of(&store, g));
    assert!(matches!(
        store.read_index(&forged, Some(&ring), None),
        Err(StoreError::Corrupt(_))
    ));
    edit_rows(&store, g, swap);
    assert!(store.read_index(&m, Some(&ring), None).is_ok());

    // Drop the last chunk (and forge the chain): no chunk says "last", refused.
    let last = blobs.bytes.div_ceil(CHUNK as u64) as u32 - 1;
    edit_rows(&store, g, |t| {
        t.remove(row_key(g, last).as_slice()).unwrap();
    });
    let forged = manifest(g, chain_of(&store, g));
    assert!(matches!(
        store.read_index(&forged, Some(&ring), None),
        Err(StoreError::Corrupt(_))
    ));
}

fn verify_blobs_now(store: &Store, m: &Manifest) -> (bool, u64) {
    let (_, corrupt, chain_ok) = store.verify_index(m).unwrap();
    (chain_ok, corrupt)
}

#[test]
fn base_round_trip_sorted_and_winning_location() {
    let mut born = HashMap::new();
    let t = |h: i64| Some(DateTime::<Utc>::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap());
    born.insert(
        (1, [2u8; 16]),
        (
            [2u8; 16],
            Arc::new(Entry::new(patient(
                "髙橋 太郎",
                "ﾀｶﾊｼ ﾀﾛｳ",
                "000123",
                (1950, 1, 2),
            ))),
        ),
    );
    born.insert(
        (1, [1u8; 16]),
        (
            [1u8; 16],
            Arc::new(Entry::new(patient(
                "山田 花子",
                "ヤマダ ハナコ",
                "77",
                (1960, 5, 6),
            ))),
        ),
    );
    for (idh, ward, start) in [
        ([9u8; 16], "東3", t(1)),
        ([8u8; 16], "西5", t(5)),
        ([7u8; 16], "北1", None),
    ] {
        born.insert(
            (9, idh),
            (
                [2u8; 16],
                Arc::new(Entry::new(IndexEntry::Location {
                    ward: Some(ward.into()),
                    room: Some("301".into()),
                    bed: None,
                    class: None,
                    start,
                })),
            ),
        );
    }
    let shown = format!("{:?}", born.values().next().unwrap().1);
    let entries = born.into_iter().map(BaseEntry::from_born).collect();
    let parts = encode_base(entries).unwrap();
    let plain = zeroize::Zeroizing::new(parts.iter().flat_map(|p| p.iter().copied()).collect());
    let base = Base::parse(plain, 1).unwrap();
    assert_eq!(base.patients(), 2);
    assert_eq!(base.locations(), 3);
    assert_eq!(base.pk(0), [1u8; 16]);
    let p = base.patient(base.find(&[2u8; 16]).unwrap());
    assert_eq!(p.name_kanji, Some("髙橋 太郎"));
    assert_eq!(p.hospital_id, Some("000123"));
    assert_eq!(p.birth_date, NaiveDate::from_ymd_opt(1950, 1, 2));
    let loc = base.location(p.location.unwrap());
    assert_eq!(loc.ward, Some("西5"), "the most recent admission wins");
    assert_eq!(base.locations_of(&[2u8; 16]).len(), 3);
    assert_eq!(base.locations_of(&[1u8; 16]).len(), 0);
    assert!(base
        .patient(base.find(&[1u8; 16]).unwrap())
        .location
        .is_none());
    let hits = |q: &str| -> Vec<u32> {
        base.names_with_prefix(crate::text::normalize_name(q).as_bytes())
            .map(|(i, _)| i)
            .collect()
    };
    assert_eq!(hits("高橋"), vec![1]);
    assert_eq!(hits("たろう"), vec![1], "given name, hiragana");
    assert_eq!(hits("ヤマダ"), vec![0]);
    assert!(hits("佐藤").is_empty());
    assert_eq!(base.with_id(b"123").collect::<Vec<_>>(), vec![1]);
    assert_eq!(base.with_id(b"77").collect::<Vec<_>>(), vec![0]);
    assert_eq!(
        base.born_on(NaiveDate::from_ymd_opt(1960, 5, 6).unwrap())
            .collect::<Vec<_>>(),
        vec![0]
    );
    assert!(format!("{base:?} {shown}").find("髙橋").is_none());
}
