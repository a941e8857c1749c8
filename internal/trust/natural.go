package trust

// naturalLess orders strings as docker orders tags and signers (the order of
// github.com/fvbommel/sortorder v1.1's NaturalLess, which docker uses):
//
//   - runs of ASCII digits compare as numbers ("v2" < "v10");
//   - equal numbers with more leading zeros come later ("v1" < "v01");
//   - other bytes compare one by one;
//   - where one string has a digit and the other does not, the digit sorts
//     first ("ab1" < "abc");
//   - a string that is a prefix of the other sorts first.
func naturalLess(a, b string) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		da, db := isDigit(a[i]), isDigit(b[j])
		if da != db {
			return da
		}
		if !da {
			if a[i] != b[j] {
				return a[i] < b[j]
			}
			i++
			j++
			continue
		}
		za, zb := zeros(a[i:]), zeros(b[j:])
		i, j = i+za, j+zb
		na, nb := digits(a[i:]), digits(b[j:])
		if na != nb {
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			return na < nb
		}
		if za != zb {
			return za < zb
		}
		i, j = i+len(na), j+len(nb)
	}
	return len(a)-i < len(b)-j
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// zeros counts the leading '0' bytes of s.
func zeros(s string) int {
	n := 0
	for n < len(s) && s[n] == '0' {
		n++
	}
	return n
}

// digits returns the leading run of digits of s.
func digits(s string) string {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return s[:n]
}

// naturalCompare is naturalLess as a three-way comparison for slices.SortFunc.
func naturalCompare(a, b string) int {
	switch {
	case naturalLess(a, b):
		return -1
	case naturalLess(b, a):
		return 1
	}
	return 0
}
