package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// unixTime is a time in whole Unix seconds, as a flake's lastModified
// says it, or none (null in JSON).
type unixTime struct{ t *time.Time }

func (u *unixTime) String() string {
	if u == nil || u.t == nil {
		return ""
	}
	return strconv.FormatInt(u.t.Unix(), 10)
}
func (u *unixTime) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("want whole Unix seconds such as 1700000000")
	}
	t := time.Unix(n, 0).UTC()
	u.t = &t
	return nil
}
func (u *unixTime) setJSON(raw json.RawMessage) error {
	if string(bytes.TrimSpace(raw)) == "null" {
		u.t = nil
		return nil
	}
	// A JSON number, not a string of one (which json.Number would take).
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) || u.Set(n.String()) != nil {
		return fmt.Errorf("must be whole Unix seconds such as 1700000000, or null, not %.40s", raw)
	}
	return nil
}

func (u unixTime) MarshalJSON() ([]byte, error) {
	if u.t == nil {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatInt(u.t.Unix(), 10)), nil
}

// duration is a time.Duration written as "30s", as a flag and in JSON.
type duration time.Duration

func (d *duration) String() string { return time.Duration(*d).String() }
func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return errors.New("want a positive duration such as 30s")
	}
	*d = duration(v)
	return nil
}
func (d *duration) setJSON(raw json.RawMessage) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || d.Set(s) != nil {
		return fmt.Errorf("must be a positive duration such as \"30s\", not %.40s", raw)
	}
	return nil
}

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}
