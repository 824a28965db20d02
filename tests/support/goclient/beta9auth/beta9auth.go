// Package beta9auth gives go-containerregistry the credentials of one workspace at a time from
// docker-credential-beta9, for a worker that mounts images of many workspaces in one process.
package beta9auth

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/docker/docker-credential-helpers/client"
)

// Helper asks docker-credential-beta9 for one workspace's credentials. It implements
// go-containerregistry's authn.Helper: authn.NewKeychainFromHelper(beta9auth.Helper{...}).
type Helper struct {
	Program   string // docker-credential-beta9: a path, or a name looked up on PATH
	Workspace string // the request's workspace
}

// Get returns the username and secret stored for serverURL in h.Workspace. The workspace goes
// into this call's own environment, so concurrent calls for other workspaces never mix, and it
// wins over a BETA9_WORKSPACE of the worker's own environment. A missing entry is the library's
// not-found error: credentials.IsErrCredentialsNotFound(err) is true.
func (h Helper) Get(serverURL string) (string, string, error) {
	if h.Workspace == "" {
		// An empty BETA9_WORKSPACE means "default": never hand a request another's entries.
		return "", "", errors.New("beta9auth: no workspace")
	}
	env := map[string]string{"BETA9_WORKSPACE": h.Workspace}
	creds, err := client.Get(client.NewShellProgramFuncWithEnv(h.Program, &env), serverURL)
	if err != nil {
		return "", "", err
	}
	return creds.Username, creds.Secret, nil
}

// Import stores a request's ImageCredentials record in h.Workspace. The record goes through
// stdin, never argv; the helper's one-line errors never hold a secret.
func (h Helper) Import(record []byte) error {
	if h.Workspace == "" {
		return errors.New("beta9auth: no workspace")
	}
	cmd := exec.Command(h.Program, "--workspace", h.Workspace, "import")
	cmd.Stdin = bytes.NewReader(record)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker-credential-beta9 import (workspace %s): %v: %s",
			h.Workspace, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
