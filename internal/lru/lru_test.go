package lru

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

func TestEvictsLeastRecentlyUsedWithinBudget(t *testing.T) {
	c := New[string, string](10, func(_ string, v string) int { return len(v) })
	c.Put("a", "aaaa") // 4
	c.Put("b", "bbbb") // 8
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a missing")
	}
	c.Put("c", "cccc") // 12 > 10: b, least recently used, goes
	if _, ok := c.Get("b"); ok {
		t.Error("b kept over the budget")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s dropped", k)
		}
	}
	if c.Cost() != 8 || c.Len() != 2 {
		t.Errorf("cost %d, len %d; want 8, 2", c.Cost(), c.Len())
	}
	c.Put("a", "a") // replacing counts the new cost only
	if c.Cost() != 5 {
		t.Errorf("cost after replacing a: %d, want 5", c.Cost())
	}
	c.Put("huge", "xxxxxxxxxxx") // costs more than the budget: never kept
	if _, ok := c.Get("huge"); ok || c.Cost() != 5 {
		t.Errorf("a value over the budget was kept (cost %d)", c.Cost())
	}
}

func TestCountsEntriesByDefault(t *testing.T) {
	c := New[int, int](100, nil)
	for i := range 1000 {
		c.Put(i, i)
	}
	if c.Len() != 100 {
		t.Fatalf("len %d, want 100", c.Len())
	}
	if _, ok := c.Get(899); ok {
		t.Error("an old entry survived")
	}
	if v, ok := c.Get(999); !ok || v != 999 {
		t.Error("the newest entry is missing")
	}
}

func TestUpdateRefused(t *testing.T) {
	c := New[string, int](10, nil)
	c.Put("k", 1)
	stored := c.Update("k", func(old int, present bool) (int, bool) {
		if !present || old != 1 {
			t.Errorf("Update saw %d, %v", old, present)
		}
		return 2, false
	})
	if v, _ := c.Get("k"); stored || v != 1 {
		t.Errorf("a refused update stored %d", v)
	}
	c.Update("k", func(old int, _ bool) (int, bool) { return old + 1, true })
	if v, _ := c.Get("k"); v != 2 {
		t.Errorf("update from the old value: %d, want 2", v)
	}
	c.Remove("k")
	c.Update("k", func(_ int, present bool) (int, bool) {
		if present {
			t.Error("removed key still present")
		}
		return 0, false
	})
	c.Put("x", 1)
	c.Clear()
	if c.Len() != 0 || c.Cost() != 0 {
		t.Error("Clear left something")
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New[string, int](50, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := strconv.Itoa((g*7 + i) % 200)
				c.Put(k, i)
				c.Get(k)
				if i%10 == 0 {
					c.Remove(k)
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 50 || c.Cost() != c.Len() {
		t.Fatalf("len %d, cost %d over a budget of 50", c.Len(), c.Cost())
	}
}

func TestRemoveIf(t *testing.T) {
	c := New[int, string](10, nil)
	for i := range 6 {
		c.Put(i, fmt.Sprint(i%2))
	}
	c.RemoveIf(func(_ int, v string) bool { return v == "1" })
	if c.Len() != 3 || c.Cost() != 3 {
		t.Fatalf("len %d cost %d, want 3 and 3", c.Len(), c.Cost())
	}
	for i := range 6 {
		if _, ok := c.Get(i); ok != (i%2 == 0) {
			t.Errorf("key %d present %v", i, ok)
		}
	}
}
