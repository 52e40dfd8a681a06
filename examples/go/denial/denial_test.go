package denial

import (
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func busyStatus(details metav1.StatusDetails) metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Code: 409, Reason: metav1.StatusReasonConflict, Message: "busy", Details: &details}
}

var (
	keyCause     = metav1.StatusCause{Type: metav1.CauseTypeFieldValueDuplicate, Field: "spec.signalFingerprint", Message: "held"}
	leaseCause   = metav1.StatusCause{Type: CauseLease, Field: "metadata.annotations", Message: "leaseguard-system/rr-lease"}
	holderCause  = metav1.StatusCause{Type: CauseHolder, Field: "metadata.name", Message: "ns/rr-1"}
	nsCause      = metav1.StatusCause{Type: CauseHolderNamespace, Field: "metadata.namespace", Message: "ns"}
	hiddenCause  = metav1.StatusCause{Type: CauseHolderHidden, Field: "metadata.namespace", Message: "the holder is in another namespace"}
	pendingCause = metav1.StatusCause{Type: CausePending, Message: "2026-11-22T12:00:18Z"}
)

func TestFromStatus(t *testing.T) {
	stored := metav1.StatusDetails{Group: "kubernaut.ai", Kind: "RemediationRequest", Name: "rr-1", UID: "uid-1", Causes: []metav1.StatusCause{keyCause, holderCause, leaseCause, nsCause}}
	pending := stored
	pending.Causes = append(append([]metav1.StatusCause{}, stored.Causes...), pendingCause)
	pending.RetryAfterSeconds = 18
	noUID := stored
	noUID.UID = ""
	pendingNoRetry := pending
	pendingNoRetry.RetryAfterSeconds = 0
	hidden := metav1.StatusDetails{Group: "kubernaut.ai", Kind: "RemediationRequest", Causes: []metav1.StatusCause{keyCause, hiddenCause, leaseCause}}
	updateConflict := metav1.StatusDetails{Group: "kubernaut.ai", Kind: "remediationrequests", Name: "rr-1"}

	cases := []struct {
		name      string
		status    metav1.Status
		want      *Busy
		malformed bool
	}{
		{name: "stored holder", status: busyStatus(stored), want: &Busy{Group: "kubernaut.ai", Kind: "RemediationRequest", Name: "rr-1", Namespace: "ns", UID: "uid-1", Lease: "leaseguard-system/rr-lease", Message: "busy"}},
		{name: "pending holder", status: busyStatus(pending), want: &Busy{Group: "kubernaut.ai", Kind: "RemediationRequest", Name: "rr-1", Namespace: "ns", UID: "uid-1", Pending: true, PendingUntil: time.Date(2026, 11, 22, 12, 0, 18, 0, time.UTC), RetryAfter: 18 * time.Second, Lease: "leaseguard-system/rr-lease", Message: "busy"}},
		{name: "holder in another namespace", status: busyStatus(hidden), want: &Busy{Group: "kubernaut.ai", Kind: "RemediationRequest", Hidden: true, Lease: "leaseguard-system/rr-lease", Message: "busy"}},
		{name: "no details.uid", status: busyStatus(noUID), malformed: true},
		{name: "pending without retryAfterSeconds", status: busyStatus(pendingNoRetry), malformed: true},
		{name: "an update conflict is not leaseguard's", status: busyStatus(updateConflict)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := FromStatus(c.status)
			if c.malformed {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("want ErrMalformed, got %v, %+v", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestFromErrorIgnoresOtherErrors(t *testing.T) {
	gr := schema.GroupResource{Group: "kubernaut.ai", Resource: "remediationrequests"}
	for _, err := range []error{nil, errors.New("boom"), apierrors.NewNotFound(gr, "rr-1"), apierrors.NewAlreadyExists(gr, "rr-1"), apierrors.NewConflict(gr, "rr-1", errors.New("modified"))} {
		if b, perr := FromError(err); b != nil || perr != nil {
			t.Errorf("%v: got %+v, %v", err, b, perr)
		}
	}
}
