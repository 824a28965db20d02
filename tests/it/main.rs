//! One integration-test binary (faster to build and link than one per file). Each module runs
//! the real `docker-credential-beta9` as docker, skopeo, docker-py and operators do.

mod support;

mod protocol;
