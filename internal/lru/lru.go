// Package lru is the bounded, least-recently-used cache behind trustdeck's
// in-memory caches (Notary metadata, admission decisions, verified tokens,
// rendered inspections). Each cache has a budget: every value has a cost
// (1 for a count of entries, its size for a byte budget), and adding past the
// budget drops the least recently used values first. It is safe for
// concurrent use.
package lru

import (
	"container/list"
	"sync"
)

// Cache maps keys to values within a cost budget.
type Cache[K comparable, V any] struct {
	mu     sync.Mutex
	budget int
	cost   func(K, V) int
	total  int
	order  list.List // of *item[K, V], most recently used first
	items  map[K]*list.Element
}

type item[K comparable, V any] struct {
	key   K
	value V
	cost  int
}

// New returns a cache that holds values whose costs add up to at most
// budget. cost nil counts entries (each costs 1). A value that costs more
// than the whole budget is never kept.
func New[K comparable, V any](budget int, cost func(K, V) int) *Cache[K, V] {
	if cost == nil {
		cost = func(K, V) int { return 1 }
	}
	return &Cache[K, V]{budget: budget, cost: cost, items: map[K]*list.Element{}}
}

// Get returns the value of k and marks it used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*item[K, V]).value, true
}

// Put sets the value of k.
func (c *Cache[K, V]) Put(k K, v V) {
	c.Update(k, func(V, bool) (V, bool) { return v, true })
}

// Update sets the value of k to what fn returns when fn, called under the
// cache's lock with the current value (if any), also returns true. It
// reports whether a value was stored. Callers that compute a value outside
// the lock use fn to refuse it when it went stale meanwhile, or to derive
// the new value from the old.
func (c *Cache[K, V]) Update(k K, fn func(old V, present bool) (V, bool)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, present := c.items[k]
	var old V
	if present {
		old = el.Value.(*item[K, V]).value
	}
	v, keep := fn(old, present)
	if !keep {
		return false
	}
	if present {
		c.removeElement(el)
	}
	cost := c.cost(k, v)
	if cost > c.budget {
		return false
	}
	c.items[k] = c.order.PushFront(&item[K, V]{key: k, value: v, cost: cost})
	c.total += cost
	for c.total > c.budget {
		c.removeElement(c.order.Back())
	}
	return true
}

// Remove drops k.
func (c *Cache[K, V]) Remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.removeElement(el)
	}
}

// RemoveIf drops every value for which drop returns true.
func (c *Cache[K, V]) RemoveIf(drop func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if it := el.Value.(*item[K, V]); drop(it.key, it.value) {
			c.removeElement(el)
		}
		el = next
	}
}

// Clear drops everything.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.items)
	c.total = 0
}

// Len is the number of values held.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Cost is the sum of the costs of the values held (at most the budget).
func (c *Cache[K, V]) Cost() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

func (c *Cache[K, V]) removeElement(el *list.Element) {
	it := c.order.Remove(el).(*item[K, V])
	delete(c.items, it.key)
	c.total -= it.cost
}
