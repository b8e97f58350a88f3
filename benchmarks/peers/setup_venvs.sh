#!/usr/bin/env bash
# Make the peers' virtual environments for benchmarks/peers/run.py, outside the repository:
# CAX (JAX on the CPU) and NCALab (PyTorch). Neither is a dependency of the toolkit.
#
#   benchmarks/peers/setup_venvs.sh [PEERS_DIR]        (default: $NCA_PEERS_DIR or /work/peers)
#
#   PEERS_DIR/cax-venv     cax from the package index (CAX_VERSION, default 0.3.3)
#   PEERS_DIR/ncalab-venv  torch + torchvision (TORCH_SPEC) and NCALab's import-time
#                          dependencies; NCALab itself from NCALAB_SRC (see below)
#   PEERS_DIR/ncalab-src   that source, on the venv's path through a .pth file
#   PEERS_DIR/*-freeze.txt what each venv holds (pip freeze)
#
# NCALab: every release on the package index (0.1.0 to 0.5.1, wheels and sdist) ships
# without its subpackages (models, training, data, ...), so `import ncalab` fails
# ("No module named 'ncalab.models'"). Set NCALAB_SRC to a checkout of
# github.com/MECLabTUDA/NCAlab (a work tree or a bare git directory); without it the NCALab
# venv is skipped. Its pyproject asks for Python >= 3.12; the code runs on 3.11 (PYTHON).
set -euo pipefail

PEERS_DIR=${1:-${NCA_PEERS_DIR:-/work/peers}}
PYTHON=${PYTHON:-python3.11}
CAX_VERSION=${CAX_VERSION:-0.3.3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
# What `import ncalab` imports (its pyproject pins ~150 packages, CUDA's included).
NCALAB_DEPS="matplotlib tqdm pandas tensorboard pytorch-msssim segmentation-models-pytorch torchmetrics"

mkdir -p "$PEERS_DIR"

venv() {  # venv NAME: create PEERS_DIR/NAME unless it is there
    [ -x "$PEERS_DIR/$1/bin/python" ] || "$PYTHON" -m venv "$PEERS_DIR/$1"
}

echo "== CAX $CAX_VERSION in $PEERS_DIR/cax-venv"
venv cax-venv
"$PEERS_DIR/cax-venv/bin/pip" install -q "cax==$CAX_VERSION"
JAX_PLATFORMS=cpu "$PEERS_DIR/cax-venv/bin/python" -c \
    "import cax, jax; print('cax', cax.__name__, 'jax', jax.__version__, jax.devices())"
"$PEERS_DIR/cax-venv/bin/pip" freeze > "$PEERS_DIR/cax-venv-freeze.txt"

if [ -z "${NCALAB_SRC:-}" ]; then
    echo "== NCALab skipped: set NCALAB_SRC to a checkout of MECLabTUDA/NCAlab" \
         "(the package index's releases lack ncalab/models; see the README)" >&2
    exit 0
fi

echo "== NCALab from $NCALAB_SRC in $PEERS_DIR/ncalab-venv"
venv ncalab-venv
# shellcheck disable=SC2086  # TORCH_SPEC and NCALAB_DEPS are lists of requirements
"$PEERS_DIR/ncalab-venv/bin/pip" install -q $TORCH_SPEC
# shellcheck disable=SC2086
"$PEERS_DIR/ncalab-venv/bin/pip" install -q $NCALAB_DEPS
rm -rf "$PEERS_DIR/ncalab-src"
mkdir -p "$PEERS_DIR/ncalab-src"
git -C "$NCALAB_SRC" archive HEAD | tar -x -C "$PEERS_DIR/ncalab-src"
commit=$(git -C "$NCALAB_SRC" log -1 --format='%h %cs')
echo "MECLabTUDA/NCAlab@${commit% *} (${commit#* })" > "$PEERS_DIR/ncalab-src/PEER_SOURCE"
site=$("$PEERS_DIR/ncalab-venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$PEERS_DIR/ncalab-src" > "$site/ncalab-src.pth"
"$PEERS_DIR/ncalab-venv/bin/python" -c \
    "import ncalab, torch; print('ncalab from', ncalab.__file__, 'torch', torch.__version__)"
"$PEERS_DIR/ncalab-venv/bin/pip" freeze > "$PEERS_DIR/ncalab-venv-freeze.txt"
