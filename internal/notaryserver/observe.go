package notaryserver

import (
	"net/http"
	"sync"
	"time"
)

// Operation is an endpoint of the Notary API as notary-server's request
// metrics name it (the "operation" label of notary_server_http_*).
type Operation uint8

// The operations notary-server instruments. The ping (GET /v2/) and
// unknown paths are not instrumented, as in notary-server.
const (
	OpNone Operation = iota
	OpGetRole
	OpGetRoleByHash
	OpGetRoleByVersion
	OpGetKey
	OpRotateKey
	OpUpdateTUF
	OpDeleteTUF
	OpChangefeed
	// NumOperations bounds the operations, for arrays indexed by them.
	NumOperations
)

var operationNames = [NumOperations]string{"", "GetRole", "GetRoleByHash", "GetRoleByVersion", "GetKey",
	"RotateKey", "UpdateTUF", "DeleteTUF", "Changefeed"}

// operationMethods are the lower-case methods notary-server labels each
// operation's requests with (each operation answers one method).
var operationMethods = [NumOperations]string{"", "get", "get", "get", "get", "post", "post", "delete", "get"}

// String is the operation's name in notary-server's metrics.
func (o Operation) String() string { return operationNames[o] }

// Method is the (lower-case) method label of the operation's requests.
func (o Operation) Method() string { return operationMethods[o] }

// operation is the operation rt is counted under.
func (rt route) operation() Operation {
	switch rt.endpoint {
	case getMetadata:
		switch {
		case rt.checksum != "":
			return OpGetRoleByHash
		case rt.version != "":
			return OpGetRoleByVersion
		}
		return OpGetRole
	case getKey:
		return OpGetKey
	case rotateKey:
		return OpRotateKey
	case update:
		return OpUpdateTUF
	case deleteGUN:
		return OpDeleteTUF
	case changefeed, globalChangefeed:
		return OpChangefeed
	}
	return OpNone
}

// Observer is told of every instrumented request once it is answered.
type Observer interface {
	// ObserveRequest reports one request of op: inProcess is true for
	// trustdeck's own requests (InProcess), status the answer's status,
	// requestBytes an approximation of the request's size (as
	// notary-server's), responseBytes the body bytes written.
	ObserveRequest(op Operation, inProcess bool, status, requestBytes, responseBytes int, took time.Duration)
}

// observedWriter records the status and size of an answer.
type observedWriter struct {
	http.ResponseWriter
	status  int
	written int
}

func (o *observedWriter) WriteHeader(code int) {
	if o.status == 0 {
		o.status = code
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *observedWriter) Write(b []byte) (int, error) {
	if o.status == 0 {
		o.status = http.StatusOK
	}
	n, err := o.ResponseWriter.Write(b)
	o.written += n
	return n, err
}

var observedWriters = sync.Pool{New: func() any { return new(observedWriter) }}

// serveObserved serves r and reports it to the observer.
func (s *server) serveObserved(w http.ResponseWriter, r *http.Request, rt route, op Operation) {
	start := time.Now()
	ow := observedWriters.Get().(*observedWriter)
	*ow = observedWriter{ResponseWriter: w}
	s.serve(ow, r, rt)
	status := ow.status
	if status == 0 {
		status = http.StatusOK
	}
	s.observer.ObserveRequest(op, IsInProcess(r.Context()), status, requestSize(r), ow.written, time.Since(start))
	*ow = observedWriter{}
	observedWriters.Put(ow)
}

// requestSize approximates the size of r as notary-server's metrics do:
// the URL, method, protocol, headers, host and declared body length.
func requestSize(r *http.Request) int {
	n := len(r.Method) + len(r.Proto) + len(r.Host)
	if r.RequestURI != "" {
		n += len(r.RequestURI)
	} else {
		n += len(r.URL.Path) + len(r.URL.RawQuery)
	}
	for name, values := range r.Header {
		n += len(name)
		for _, v := range values {
			n += len(v)
		}
	}
	if r.ContentLength > 0 {
		n += int(r.ContentLength)
	}
	return n
}
