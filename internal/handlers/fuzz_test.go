package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/labstack/echo/v4"
)

// fuzzBody has the field types of the API's request bodies: strings,
// booleans and a map of objects (as POST .../tags/revoke takes).
type fuzzBody struct {
	Tag        string `json:"tag"`
	Confirm    string `json:"confirm"`
	DeleteKeys bool   `json:"delete_keys"`
	Keys       map[string]struct {
		Passphrase string `json:"passphrase"`
		Key        string `json:"key"`
	} `json:"keys"`
}

// fuzzEcho makes the request contexts; it is safe for concurrent use.
var fuzzEcho = echo.New()

// decodeFuzzBody decodes body sent with contentType as an API handler does.
func decodeFuzzBody(contentType string, body []byte) (fuzzBody, error) {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/repositories/prod/app/tags/revoke", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set(echo.HeaderContentType, contentType)
	}
	var v fuzzBody
	err := decodeJSON(fuzzEcho.NewContext(req, httptest.NewRecorder()), &v)
	return v, err
}

// FuzzDecodeJSON decodes API request bodies. Whatever arrives, the answer
// is a value or a 4xx, never a panic or a 500; a value decoded is one JSON
// document, and it encodes to JSON that decodes to the same value.
func FuzzDecodeJSON(f *testing.F) {
	for _, body := range []string{
		`{"tag":"v1.2","keys":{"targets":{"passphrase":"correct horse","key":"-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: targets\n\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"}}}`,
		`{"confirm":"prod/app","delete_keys":true}`,
		` {"tag":"caf\u00e9 \ud83d\ude00 \"q\" \\"}` + "\n",
		`{"tag":"a","tag":"b"}`, `{"Tag":"case"}`, `{"keys":{"a":{},"a":{"key":"x"}}}`, `{"keys":null,"tag":null}`,
		`{}`, `{}{}`, `{} x`, `{"tag":"v1"}}`, `[]`, `"tag"`, `null`, ``, `   `, `{"tag":1}`, `{"unknown":1}`,
		`{"tag":"` + "\xff\xfe" + `"}`, `{"tag":"\ud800"}`, `{"delete_keys":"true"}`, `{"keys":{"a":[]}}`, `{"tag":"v1"`,
	} {
		f.Add("application/json", []byte(body))
	}
	for _, ct := range []string{"", "application/json; charset=utf-8", "APPLICATION/JSON", "application/jsonx", "text/plain",
		"application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		f.Add(ct, []byte(`{"tag":"v1"}`))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		v, err := decodeFuzzBody(contentType, body)
		if err != nil {
			if status, code, _ := classify(err); status < 400 || status >= 500 {
				t.Fatalf("refused with %d %s: %v", status, code, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("decoded %q, which is not one JSON document, to %+v", body, v)
		}
		encoded, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", v, err)
		}
		again, err := decodeFuzzBody("application/json", encoded)
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("decoded %+v, encoded %s, decoded again %+v, %v", v, encoded, again, err)
		}
	})
}
