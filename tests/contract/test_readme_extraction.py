import textwrap

import pytest

from tests.contract.readme import curl_examples, documented_files, examples, manage_py_commands, nav_pages

SAMPLE = """Intro

```sh
curl http://illustration.only
```

```bash
# List -> 200 by default
curl -H "Authorization: Api-Key $KEY" $HOST/api/v1/models
# the same version again -> 409
curl -X POST ${HOST}/api/v1/models \\
     -d @models_app/examples/llama2-7b-chat.json  # a comment
echo not curl
curl -s $HOST/api/v1/models | jq .
```

```sh
.venv/bin/python manage.py create_api_key admin   # read-write
```
"""


def test_only_curl_commands_in_bash_blocks_are_taken_with_continuations_joined():
    found = curl_examples(SAMPLE)
    assert [c.line for c in found] == [9, 11, 14]
    assert found[1].text.endswith("-d @models_app/examples/llama2-7b-chat.json  # a comment")


def test_the_comment_line_above_names_the_expected_status():
    assert [c.expected_status for c in curl_examples(SAMPLE)] == [200, 409, None]


def test_variables_are_substituted_and_comments_and_pipes_dropped():
    variables = {"HOST": "http://h:1", "KEY": "k"}
    first, second, third = (c.argv(variables) for c in curl_examples(SAMPLE))
    assert first == ["curl", "-H", "Authorization: Api-Key k", "http://h:1/api/v1/models"]
    assert second[-2:] == ["-d", "@models_app/examples/llama2-7b-chat.json"]
    assert third == ["curl", "-s", "http://h:1/api/v1/models"]


def test_an_unknown_variable_names_the_file_and_line():
    with pytest.raises(KeyError, match="README.md:9"):
        curl_examples(SAMPLE)[0].argv({"HOST": "x"})
    with pytest.raises(KeyError, match="docs/api/models.md:9"):
        curl_examples(SAMPLE, "docs/api/models.md")[0].argv({"HOST": "x"})


def test_manage_py_commands_come_from_any_shell_block():
    assert [c.argv({}) for c in manage_py_commands(SAMPLE)] == [
        [".venv/bin/python", "manage.py", "create_api_key", "admin"]
    ]


MKDOCS = """
site_name: Sample
nav:
  - Home: index.md
  - API:
      - Models: api/models.md
      - Pipelines: api/pipelines.md
      - Source: https://example.com/repo
  - Operations: operations.md
"""


def _site(root, pages: dict[str, str]) -> None:
    (root / "mkdocs.yml").write_text(MKDOCS)
    for name, text in pages.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


def test_nav_pages_are_read_in_order_through_sections_and_skip_links():
    import yaml

    nav = yaml.safe_load(MKDOCS)["nav"]
    assert nav_pages(nav) == ["index.md", "api/models.md", "api/pipelines.md", "operations.md"]


def test_the_readme_comes_first_then_the_pages_in_nav_order(tmp_path):
    _site(
        tmp_path,
        {
            "README.md": "",
            "docs/index.md": "",
            "docs/api/models.md": "",
            "docs/api/pipelines.md": "",
            "docs/operations.md": "",
        },
    )
    assert documented_files(tmp_path) == [
        "README.md",
        "docs/index.md",
        "docs/api/models.md",
        "docs/api/pipelines.md",
        "docs/operations.md",
    ]


def test_examples_of_several_files_run_in_reading_order_and_name_their_file(tmp_path):
    bash = "```bash\n"
    _site(
        tmp_path,
        {
            "README.md": bash + "curl $HOST/api/v1/models\n```\n",
            "docs/index.md": "No examples here.\n",
            # nav order, not the alphabet: pipelines.md is read after models.md, operations.md last
            "docs/api/pipelines.md": "# Pipelines\n\n"
            + bash
            + "# registered again -> 409\ncurl -X POST $HOST/api/v1/pipelines\n```\n",
            "docs/api/models.md": "# Models\n\n"
            + bash
            + "curl -X POST $HOST/api/v1/models\ncurl $HOST/api/v1/models/m\n```\n",
            "docs/operations.md": "```sh\n.venv/bin/python manage.py refresh_stats\ncurl $HOST/not/run\n```\n",
        },
    )
    found = examples(tmp_path, curl_examples)
    assert [c.where for c in found] == [
        "README.md:2",
        "docs/api/models.md:4",
        "docs/api/models.md:5",
        "docs/api/pipelines.md:5",
    ]
    assert [c.expected_status for c in found] == [None, None, None, 409]
    assert [c.where for c in examples(tmp_path, manage_py_commands)] == ["docs/operations.md:2"]
