//go:build race

package handlers_test

// raceEnabled: the race detector shadows memory, so resident-set figures
// are not the program's own.
const raceEnabled = true
