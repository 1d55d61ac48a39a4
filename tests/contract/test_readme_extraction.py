from tests.contract.readme import curl_examples, manage_py_commands

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


def test_an_unknown_variable_names_the_readme_line():
    import pytest

    with pytest.raises(KeyError, match="line 9"):
        curl_examples(SAMPLE)[0].argv({"HOST": "x"})


def test_manage_py_commands_come_from_any_shell_block():
    assert [c.argv({}) for c in manage_py_commands(SAMPLE)] == [[".venv/bin/python", "manage.py", "create_api_key", "admin"]]
