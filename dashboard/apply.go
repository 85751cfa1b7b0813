package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// Result is what Apply did.
type Result struct {
	UID string
	// Status is "created" or "updated".
	Status string
	// Version is the dashboard's version now.
	Version int64
	// Overwritten says that edits made in Axiom were replaced (force).
	Overwritten bool
}

// ErrEdited is returned when the dashboard was changed in Axiom since
// it was made here, and force was not given.
var ErrEdited = errors.New("edited in Axiom")

// Apply creates the dashboard, or updates the one with its uid, sending
// the version it read so that a change made in between is refused (412).
// A dashboard edited in Axiom since it was made here is only replaced
// with force, which also overwrites whatever version is current.
func Apply(ctx context.Context, c *axiom.Client, req Request, force bool) (Result, error) {
	return apply(ctx, c, req, force, true)
}

func apply(ctx context.Context, c *axiom.Client, req Request, force, mayCreate bool) (Result, error) {
	raw, err := c.Dashboards.GetRaw(ctx, req.UID)
	switch {
	case errors.Is(err, axiom.ErrNotFound) && mayCreate:
		req.Version, req.Overwrite = 0, false
		body, err := json.Marshal(req)
		if err != nil {
			return Result{}, err
		}
		out, err := c.Dashboards.CreateRaw(ctx, body)
		if errors.Is(err, axiom.ErrExists) {
			// Made by another run since it was read: update that.
			return apply(ctx, c, req, force, false)
		}
		if err != nil {
			return Result{}, apiError("create", req.UID, err)
		}
		return written(req.UID, out)
	case err != nil:
		return Result{}, apiError("read", req.UID, err)
	}
	var cur struct {
		Version   int64    `json:"version"`
		Dashboard Document `json:"dashboard"`
	}
	if err := json.Unmarshal(raw, &cur); err != nil {
		return Result{}, fmt.Errorf("read dashboard %q: %v", req.UID, err)
	}
	wasEdited := edited(cur.Dashboard)
	if wasEdited && !force {
		return Result{}, fmt.Errorf("dashboard %q was %w since axiom-deploy-annotate made it: use --force to overwrite the edits, or choose another --dashboard-uid", req.UID, ErrEdited)
	}
	req.Version, req.Overwrite = cur.Version, force
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, err
	}
	out, err := c.Dashboards.UpdateRaw(ctx, req.UID, body)
	if err != nil {
		return Result{}, apiError("update", req.UID, err)
	}
	r, err := written(req.UID, out)
	r.Overwritten = r.Overwritten || wasEdited
	return r, err
}

// written reads a DashboardWriteResponse.
func written(uid string, out []byte) (Result, error) {
	var w struct {
		Status      string `json:"status"`
		Overwritten bool   `json:"overwritten"`
		Dashboard   struct {
			UID     string `json:"uid"`
			Version int64  `json:"version"`
		} `json:"dashboard"`
	}
	if err := json.Unmarshal(out, &w); err != nil {
		return Result{}, fmt.Errorf("dashboard %q: Axiom's answer: %v", uid, err)
	}
	if uidPattern.MatchString(w.Dashboard.UID) {
		uid = w.Dashboard.UID
	}
	return Result{UID: uid, Status: text.Field(w.Status, maxStatus), Version: w.Dashboard.Version, Overwritten: w.Overwritten}, nil
}

// What of Axiom's answers is shown: its status word, its error text.
const (
	maxStatus    = 40
	maxAxiomText = 300
)

// axiomText is an error as shown: whatever Axiom's answer put in it on one
// line and bounded, the error itself still there to match.
type axiomText struct{ err error }

func (e axiomText) Error() string { return text.Field(e.err.Error(), maxAxiomText) }
func (e axiomText) Unwrap() error { return e.err }

// apiError turns an Axiom error into one line that says what to do.
func apiError(op, uid string, err error) error {
	var he axiom.HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("the Axiom token was refused: check the token")
		case http.StatusForbidden:
			return fmt.Errorf("the Axiom token may not %s dashboards: give it the dashboards permission (read, create and update)", op)
		case http.StatusPreconditionFailed:
			return fmt.Errorf("dashboard %q changed in Axiom while it was being updated (someone edited it): run again, or use --force to overwrite", uid)
		case http.StatusBadRequest:
			return fmt.Errorf("axiom refused dashboard %q: %s", uid, text.Field(he.Message, maxAxiomText))
		}
	}
	return fmt.Errorf("%s dashboard %q: %w", op, uid, axiomText{err})
}
