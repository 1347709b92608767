//! Dense, typed entity maps.
//!
//! Every IR entity (`Value`, `Inst`, `Block`, ...) is a `u32` newtype. Entities
//! are created in a [`PrimaryMap`] that owns their data; side tables keyed by
//! an entity are [`SecondaryMap`]s that fill with a default value on demand.
//! Both are plain vectors: no hashing on the compile path.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// A dense index type.
pub trait EntityRef: Copy + Eq + Ord + std::hash::Hash + std::fmt::Debug {
    fn new(index: usize) -> Self;
    fn index(self) -> usize;
}

/// Declares a `u32` newtype entity with a text prefix (`v`, `block`, ...).
#[macro_export]
macro_rules! entity {
    ($(#[$attr:meta])* $name:ident, $prefix:expr) => {
        $(#[$attr])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u32);

        impl $crate::entity::EntityRef for $name {
            #[inline]
            fn new(index: usize) -> Self {
                debug_assert!(index < u32::MAX as usize);
                $name(index as u32)
            }
            #[inline]
            fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl $name {
            /// The text prefix of this entity kind, as in `v12` or `block3`.
            pub const PREFIX: &'static str = $prefix;
            /// Creates the entity with the given number.
            #[inline]
            pub const fn from_u32(n: u32) -> Self {
                $name(n)
            }
            /// The entity's number.
            #[inline]
            pub const fn as_u32(self) -> u32 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(self, f)
            }
        }
    };
}

/// The map that creates entities and owns their data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PrimaryMap<K: EntityRef, V> {
    elems: Vec<V>,
    unused: PhantomData<K>,
}

impl<K: EntityRef, V> Default for PrimaryMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: EntityRef, V> PrimaryMap<K, V> {
    pub const fn new() -> Self {
        Self {
            elems: Vec::new(),
            unused: PhantomData,
        }
    }
    pub fn with_capacity(n: usize) -> Self {
        Self {
            elems: Vec::with_capacity(n),
            unused: PhantomData,
        }
    }
    /// Adds a new entity and returns its key.
    #[inline]
    pub fn push(&mut self, v: V) -> K {
        let k = K::new(self.elems.len());
        self.elems.push(v);
        k
    }
    /// Makes `dst` a copy of `self` with room for `extra` more entities,
    /// reusing `dst`'s storage (no allocation once it is large enough): a
    /// pass that copies a function and then adds to it would otherwise
    /// copy every element twice.
    pub fn copy_into_with_headroom(&self, dst: &mut Self, extra: usize)
    where
        V: Clone,
    {
        dst.elems.clear();
        dst.elems.reserve(self.elems.len() + extra);
        dst.elems.extend_from_slice(&self.elems);
    }
    /// The key the next `push` will return.
    pub fn next_key(&self) -> K {
        K::new(self.elems.len())
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.elems.len()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.elems.is_empty()
    }
    #[inline]
    pub fn is_valid(&self, k: K) -> bool {
        k.index() < self.elems.len()
    }
    #[inline]
    pub fn get(&self, k: K) -> Option<&V> {
        self.elems.get(k.index())
    }
    #[inline]
    pub fn get_mut(&mut self, k: K) -> Option<&mut V> {
        self.elems.get_mut(k.index())
    }
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = K> + ExactSizeIterator + use<K, V> {
        (0..self.elems.len()).map(K::new)
    }
    pub fn values(&self) -> std::slice::Iter<'_, V> {
        self.elems.iter()
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (K, &V)> + ExactSizeIterator {
        self.elems.iter().enumerate().map(|(i, v)| (K::new(i), v))
    }
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (K, &mut V)> {
        self.elems
            .iter_mut()
            .enumerate()
            .map(|(i, v)| (K::new(i), v))
    }
    pub fn clear(&mut self) {
        self.elems.clear();
    }
    pub fn as_slice(&self) -> &[V] {
        &self.elems
    }
}

impl<K: EntityRef, V> Index<K> for PrimaryMap<K, V> {
    type Output = V;
    #[inline]
    fn index(&self, k: K) -> &V {
        &self.elems[k.index()]
    }
}

impl<K: EntityRef, V> IndexMut<K> for PrimaryMap<K, V> {
    #[inline]
    fn index_mut(&mut self, k: K) -> &mut V {
        &mut self.elems[k.index()]
    }
}

impl<K: EntityRef, V: std::fmt::Debug> std::fmt::Debug for PrimaryMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A side table keyed by an entity; reading a missing key yields the default.
#[derive(Clone)]
pub struct SecondaryMap<K: EntityRef, V: Clone> {
    elems: Vec<V>,
    default: V,
    unused: PhantomData<K>,
}

impl<K: EntityRef, V: Clone + Default> Default for SecondaryMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: EntityRef, V: Clone + Default> SecondaryMap<K, V> {
    pub fn new() -> Self {
        Self::with_default(V::default())
    }
}

impl<K: EntityRef, V: Clone> SecondaryMap<K, V> {
    pub fn with_default(default: V) -> Self {
        Self {
            elems: Vec::new(),
            default,
            unused: PhantomData,
        }
    }
    #[inline]
    pub fn get(&self, k: K) -> &V {
        self.elems.get(k.index()).unwrap_or(&self.default)
    }
    /// Makes sure `k` has a slot and returns it.
    #[inline]
    pub fn get_mut(&mut self, k: K) -> &mut V {
        let i = k.index();
        if i >= self.elems.len() {
            self.elems.resize(i + 1, self.default.clone());
        }
        &mut self.elems[i]
    }
    #[inline]
    pub fn set(&mut self, k: K, v: V) {
        *self.get_mut(k) = v;
    }
    pub fn clear(&mut self) {
        self.elems.clear();
    }
    /// Resizes to exactly `n` slots, filling with the default.
    pub fn resize(&mut self, n: usize) {
        self.elems.resize(n, self.default.clone());
    }
    /// Makes `dst` a copy of `self` with room for `extra` more slots,
    /// reusing `dst`'s storage (see [`PrimaryMap::copy_into_with_headroom`]).
    pub fn copy_into_with_headroom(&self, dst: &mut Self, extra: usize) {
        dst.elems.clear();
        dst.elems.reserve(self.elems.len() + extra);
        dst.elems.extend_from_slice(&self.elems);
        dst.default = self.default.clone();
    }
    /// Number of slots materialized (not the number of keys ever read).
    pub fn capacity_len(&self) -> usize {
        self.elems.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.elems.iter().enumerate().map(|(i, v)| (K::new(i), v))
    }
    pub fn default_value(&self) -> &V {
        &self.default
    }
}

impl<K: EntityRef, V: Clone + PartialEq> PartialEq for SecondaryMap<K, V> {
    /// Two maps are equal when every key reads the same value.
    fn eq(&self, other: &Self) -> bool {
        if self.default != other.default {
            return false;
        }
        let n = self.elems.len().max(other.elems.len());
        (0..n).all(|i| {
            let a = self.elems.get(i).unwrap_or(&self.default);
            let b = other.elems.get(i).unwrap_or(&other.default);
            a == b
        })
    }
}

impl<K: EntityRef, V: Clone> Index<K> for SecondaryMap<K, V> {
    type Output = V;
    #[inline]
    fn index(&self, k: K) -> &V {
        self.get(k)
    }
}

impl<K: EntityRef, V: Clone> IndexMut<K> for SecondaryMap<K, V> {
    #[inline]
    fn index_mut(&mut self, k: K) -> &mut V {
        self.get_mut(k)
    }
}

impl<K: EntityRef, V: Clone + std::fmt::Debug> std::fmt::Debug for SecondaryMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// An optional entity stored in 4 bytes (`u32::MAX` is "none").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackedOption<K: EntityRef>(u32, PhantomData<K>);

impl<K: EntityRef> PackedOption<K> {
    pub const NONE: Self = PackedOption(u32::MAX, PhantomData);
    #[inline]
    pub fn some(k: K) -> Self {
        PackedOption(k.index() as u32, PhantomData)
    }
    #[inline]
    pub fn expand(self) -> Option<K> {
        if self.0 == u32::MAX {
            None
        } else {
            Some(K::new(self.0 as usize))
        }
    }
    #[inline]
    pub fn is_none(self) -> bool {
        self.0 == u32::MAX
    }
    #[inline]
    pub fn is_some(self) -> bool {
        self.0 != u32::MAX
    }
}

impl<K: EntityRef> Default for PackedOption<K> {
    fn default() -> Self {
        Self::NONE
    }
}

impl<K: EntityRef> From<Option<K>> for PackedOption<K> {
    fn from(o: Option<K>) -> Self {
        match o {
            Some(k) => Self::some(k),
            None => Self::NONE,
        }
    }
}

impl<K: EntityRef> std::fmt::Debug for PackedOption<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.expand() {
            Some(k) => write!(f, "Some({k:?})"),
            None => write!(f, "None"),
        }
    }
}
