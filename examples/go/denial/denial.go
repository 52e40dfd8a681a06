// Package denial reads leaseguard's busy denial (a 409 Conflict from its validating
// webhook) into what a controller acts on: the holder's identity, whether it is still
// pending, and when to try again. The shape is documented in docs/denials.md.
//
// It is strict on purpose: a denial that misses a field the contract promises is an
// error, not a guess, so a client notices when leaseguard's answer changes.
package denial

import (
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Cause types of a busy denial (status.details.causes[].type).
const (
	CauseKey             = string(metav1.CauseTypeFieldValueDuplicate)
	CauseHolder          = "LockHolder"
	CauseHolderNamespace = "LockHolderNamespace"
	CauseHolderHidden    = "LockHolderHidden"
	CausePending         = "LockPending"
	CauseLease           = "LockLease"
)

// Busy is a key held by another object.
type Busy struct {
	Group, Kind string
	// The holder; all empty when Hidden.
	Name, Namespace string
	UID             types.UID
	// Hidden: the holder is in another namespace than the refused object, and leaseguard
	// does not say which object it is.
	Hidden bool
	// Pending: the holder was admitted but may not be stored yet, so a read of it can
	// answer 404 until PendingUntil; by then it is stored or the key is free.
	Pending      bool
	PendingUntil time.Time
	// RetryAfter is details.retryAfterSeconds: set while Pending, zero otherwise.
	RetryAfter time.Duration
	// Lease is the lock's Lease as namespace/name.
	Lease   string
	Message string
}

// ErrMalformed wraps every "this is leaseguard's busy denial, but a promised field is missing".
var ErrMalformed = errors.New("leaseguard busy denial is malformed")

// FromError returns the busy denial err carries; nil, nil when err is no leaseguard busy
// denial (another error, or a 409 of the API server's own such as an update conflict).
func FromError(err error) (*Busy, error) {
	var status apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &status) {
		return nil, nil
	}
	return FromStatus(status.Status())
}

// FromStatus is FromError for a Status already in hand.
func FromStatus(s metav1.Status) (*Busy, error) {
	d := s.Details
	if s.Reason != metav1.StatusReasonConflict || d == nil {
		return nil, nil
	}
	causes := map[string]metav1.StatusCause{}
	for _, c := range d.Causes {
		causes[string(c.Type)] = c
	}
	lease, ok := causes[CauseLease]
	if !ok {
		// Every leaseguard busy denial names its Lease; without it this 409 is someone else's.
		return nil, nil
	}
	malformed := func(format string, args ...any) (*Busy, error) {
		return nil, fmt.Errorf("%w: %s (message: %q)", ErrMalformed, fmt.Sprintf(format, args...), s.Message)
	}
	b := &Busy{Group: d.Group, Kind: d.Kind, Lease: lease.Message, Message: s.Message}
	if _, ok := causes[CauseKey]; !ok {
		return malformed("no %s cause", CauseKey)
	}
	if _, hidden := causes[CauseHolderHidden]; hidden {
		b.Hidden = true
		if d.Name != "" || d.UID != "" {
			return malformed("a hidden holder is named")
		}
	} else {
		b.Name, b.UID = d.Name, d.UID
		if b.Name == "" {
			return malformed("no details.name")
		}
		if b.UID == "" {
			return malformed("no details.uid")
		}
		// Absent only for a cluster-scoped holder.
		b.Namespace = causes[CauseHolderNamespace].Message
	}
	if p, ok := causes[CausePending]; ok {
		until, err := time.Parse(time.RFC3339, p.Message)
		if err != nil {
			return malformed("%s cause is not an RFC 3339 time: %v", CausePending, err)
		}
		if d.RetryAfterSeconds <= 0 {
			return malformed("a pending holder without details.retryAfterSeconds")
		}
		b.Pending, b.PendingUntil = true, until
		b.RetryAfter = time.Duration(d.RetryAfterSeconds) * time.Second
	}
	return b, nil
}
