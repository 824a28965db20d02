// Drives docker-credential-beta9 the way a worker's image mounts do, through the real
// github.com/docker/docker-credential-helpers/client library (tests/it/goclient.rs builds it in
// GOPATH mode against Debian's package and runs it; see docs/worker.md).
//
// stdin: a JSON Spec. stdout: a JSON Report. Neither the report nor any error it quotes holds a
// secret: answers are compared here and reported by workspace name only.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"beta9auth"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
)

// go-containerregistry's authn.Helper, spelled out: the example must satisfy it.
type authnHelper interface {
	Get(serverURL string) (string, string, error)
}

var _ authnHelper = beta9auth.Helper{}

type Workspace struct {
	Name     string `json:"name"`
	Username string `json:"username"`
	Secret   string `json:"secret"`
	Record   string `json:"record"` // what the request hands the worker, re-imported while gets run
}

// A lookup made after the concurrent phase, to see how its error comes out of the library.
type Probe struct {
	Workspace string `json:"workspace"`
	Server    string `json:"server"`
}

type Spec struct {
	Program    string      `json:"program"`
	Server     string      `json:"server"`
	Workspaces []Workspace `json:"workspaces"`
	// Logins of workspaces that must never answer (the worker's own), to name them in reports.
	Others []Workspace `json:"others"`
	Calls  int         `json:"calls"`  // concurrent goroutines, each calling client.Get
	Rounds int         `json:"rounds"` // gets per goroutine, alternating env and --workspace
	// Each importer must finish this many imports while gets are running; goroutines keep
	// asking (beyond Rounds) until it has, so the overlap does not depend on timing.
	ImportsDuringGets int     `json:"imports_during_gets"`
	Probes            []Probe `json:"probes"`
}

type ProbeResult struct {
	Workspace string `json:"workspace"`
	Server    string `json:"server"`
	NotFound  bool   `json:"not_found"` // credentials.IsErrCredentialsNotFound(err)
	Error     string `json:"error"`
}

type Report struct {
	Gets              int            `json:"gets"`
	GetsViaEnv        int            `json:"gets_via_env"`
	GetsViaArgs       int            `json:"gets_via_args"`
	Right             int            `json:"right"`
	Wrong             []string       `json:"wrong"`
	Failed            []string       `json:"failed"`
	Imports           map[string]int `json:"imports"`
	ImportsDuringGets map[string]int `json:"imports_during_gets"`
	ImportErrors      []string       `json:"import_errors"`
	Probes            []ProbeResult  `json:"probes"`
}

// argsProgram passes the workspace as `--workspace W` before the verb instead of in the
// environment: the ProgramFunc type lets a caller build the command line itself.
func argsProgram(program, workspace string) client.ProgramFunc {
	return func(args ...string) client.Program {
		return client.NewShellProgramFunc(program)(append([]string{"--workspace", workspace}, args...)...)
	}
}

func main() {
	var spec Spec
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		fmt.Fprintln(os.Stderr, "goclient: bad spec:", err)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(run(spec)); err != nil {
		os.Exit(2)
	}
}

func run(spec Spec) Report {
	var mu sync.Mutex
	rep := Report{
		Wrong:             []string{},
		Failed:            []string{},
		Imports:           map[string]int{},
		ImportsDuringGets: map[string]int{},
		ImportErrors:      []string{},
		Probes:            []ProbeResult{},
	}
	byUser := map[string]string{}
	for _, w := range append(append([]Workspace{}, spec.Workspaces...), spec.Others...) {
		byUser[w.Username+"\x00"+w.Secret] = w.Name
	}

	var getsRunning, getsOver int32
	stop := make(chan struct{})
	var importers sync.WaitGroup
	var lagging int32 = int32(len(spec.Workspaces)) // importers short of ImportsDuringGets
	for _, w := range spec.Workspaces {
		importers.Add(1)
		go func(w Workspace) {
			defer importers.Done()
			h := beta9auth.Helper{Program: spec.Program, Workspace: w.Name}
			during := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				began := atomic.LoadInt32(&getsRunning) == 1 && atomic.LoadInt32(&getsOver) == 0
				err := h.Import([]byte(w.Record))
				stillRunning := atomic.LoadInt32(&getsOver) == 0
				mu.Lock()
				if err != nil {
					rep.ImportErrors = append(rep.ImportErrors, err.Error())
				} else {
					rep.Imports[w.Name]++
					if began && stillRunning {
						rep.ImportsDuringGets[w.Name]++
						during++
						if during == spec.ImportsDuringGets {
							atomic.AddInt32(&lagging, -1)
						}
					}
				}
				mu.Unlock()
			}
		}(w)
	}

	// All goroutines start together, with the importers already running.
	start := make(chan struct{})
	var gets sync.WaitGroup
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; i < spec.Calls; i++ {
		gets.Add(1)
		go func(i int) {
			defer gets.Done()
			w := spec.Workspaces[i%len(spec.Workspaces)]
			<-start
			for round := 0; round < spec.Rounds || (atomic.LoadInt32(&lagging) > 0 && time.Now().Before(deadline)); round++ {
				via := "env"
				var user, secret string
				var err error
				if round%2 == 0 {
					user, secret, err = beta9auth.Helper{Program: spec.Program, Workspace: w.Name}.Get(spec.Server)
				} else {
					via = "args"
					var c *credentials.Credentials
					c, err = client.Get(argsProgram(spec.Program, w.Name), spec.Server)
					if c != nil {
						user, secret = c.Username, c.Secret
					}
				}
				mu.Lock()
				rep.Gets++
				if via == "env" {
					rep.GetsViaEnv++
				} else {
					rep.GetsViaArgs++
				}
				switch got, known := byUser[user+"\x00"+secret]; {
				case err != nil:
					rep.Failed = append(rep.Failed, fmt.Sprintf("%s via %s: %v", w.Name, via, err))
				case !known:
					rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s via %s: a credential of no workspace", w.Name, via))
				case got != w.Name:
					rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s via %s: %s's credential", w.Name, via, got))
				default:
					rep.Right++
				}
				mu.Unlock()
			}
		}(i)
	}
	atomic.StoreInt32(&getsRunning, 1)
	close(start)
	gets.Wait()
	atomic.StoreInt32(&getsOver, 1)
	close(stop)
	importers.Wait()

	for _, p := range spec.Probes {
		_, _, err := beta9auth.Helper{Program: spec.Program, Workspace: p.Workspace}.Get(p.Server)
		r := ProbeResult{Workspace: p.Workspace, Server: p.Server, NotFound: credentials.IsErrCredentialsNotFound(err)}
		if err != nil {
			r.Error = err.Error()
		}
		rep.Probes = append(rep.Probes, r)
	}
	return rep
}
