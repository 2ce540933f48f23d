// Package shell quotes words for a command line a user pastes into sh,
// bash or zsh, as the programs print them ("start one with: ...", a
// SLURM job's script, a dry run).
package shell

import "strings"

// Quote returns s as one word of sh, bash and zsh: as it is when it is
// plainly safe, in single quotes otherwise (the '*' of a wildcard bind
// is a glob, which zsh refuses when nothing matches).
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:+=@,%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
