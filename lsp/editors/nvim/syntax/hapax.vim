" Vim/Neovim syntax for .hapax policy files (minimal; the language server adds
" semantic tokens on top when it is running).
if exists("b:current_syntax")
  finish
endif

setlocal iskeyword=@,48-57,_,-

syn keyword hapaxTodo        TODO FIXME XXX NOTE contained
syn match   hapaxComment     "#.*$" contains=hapaxTodo,@Spell

syn match   hapaxEscape      +\\\(["\\nt]\|u{\x\{1,6}}\)+ contained
syn region  hapaxString      start=+"+ skip=+\\\\\|\\"+ end=+"+ contains=hapaxEscape oneline

" Block kinds that also appear as settings inside blocks (`queue interactive` in a route).
syn match   hapaxSetting     "\<\(tier\|client\|queue\|cache\|route\|sla\|budget\)\>\ze\s"

" Declarations: KIND [NAME] at the start of a top-level line (column 0).
syn match   hapaxBlock       "^\(gateway\|provider\|tier\|client\|auth\|authz\|limit\|queue\|cache\|script\|route\|sla\|budget\|price\|audit\|cluster\|test\)\>" nextgroup=hapaxDeclName,hapaxDeclString skipwhite
syn match   hapaxDeclName    "[a-zA-Z_][a-zA-Z0-9_-]*" contained
syn region  hapaxDeclString  start=+"+ skip=+\\\\\|\\"+ end=+"+ contained oneline
syn match   hapaxInclude     "^\s*\zs\<import\>"

syn keyword hapaxSetting     listen cert key congestion zero_rtt max_streams admin max_body data_dir max_connections http2_max_streams max_body_memory max_answer max_event
syn keyword hapaxSetting     type base_url api_key timeout pool max_idle idle_timeout http2 health every
syn keyword hapaxSetting     path breaker failures within open_for latency priority team roles
syn keyword hapaxSetting     api_keys jwt issuer audience jwks ca claims cedar default by requests tokens
syn keyword hapaxSetting     burst scope capacity concurrency order max_wait on_full persist retry_after
syn keyword hapaxSetting     adaptive when ttl max_size match use split fallback retry backoff transform
syn keyword hapaxSetting     to model availability over below error_rate alert webhook for spend warn_at
syn keyword hapaxSetting     on_exceed downgrade input output sink rotate keep redact store node request
syn keyword hapaxSetting     expect method target allow
syn match   hapaxSetting     "\<file\>\ze\s"
syn keyword hapaxSetting     api_version cached_input context header header_timeout limits log_prompts on_full inherits headers role notify
syn keyword hapaxSetting     mode models open shutdown_grace status stream body busy_poll forward
syn keyword hapaxConstant    adaptive allow anthropic azure backoff bbr below block drop cluster cubic daily deny downgrade error fifo flaky h3 hourly http https local log mock never newreno normal ollama openai openai_compatible over p50 p90 p95 p99 priority reject response retry_after slow stdout store warn webhook weekly within


syn keyword hapaxOperator    and or not matches in per
syn match   hapaxOperator    "\<contains\>"   " `contains` is a :syn-keyword argument name
syn match   hapaxOperator    "==\|!=\|<=\|>=\|=\~\|->\|\.\.\|[<>]"
syn keyword hapaxBoolean     on off true false
syn keyword hapaxConstant    minute hour day week month GET POST PUT PATCH DELETE HEAD OPTIONS
syn match   hapaxFunction    "\<\(env\|file\|len\|lower\|upper\|hash\)\ze\s*("

" Numbers: plain, k/M/G multipliers, durations, sizes, percentages, money.
syn match   hapaxNumber      "\<\d\+\(\.\d\+\)\=\(us\|ms\|s\|m\|h\|d\|w\|KiB\|MiB\|GiB\|TiB\|KB\|MB\|GB\|TB\|k\|M\|G\)\=\>"
syn match   hapaxNumber      "\<\d\+\(\.\d\+\)\=%"
syn match   hapaxNumber      "\<\d\+\(\.\d\+\)\=[kMG]\=\s\+\(USD\|EUR\|GBP\)\>"

hi def link hapaxComment     Comment
hi def link hapaxTodo        Todo
hi def link hapaxString      String
hi def link hapaxEscape      SpecialChar
hi def link hapaxBlock       Keyword
hi def link hapaxInclude     Include
hi def link hapaxDeclName    Identifier
hi def link hapaxDeclString  Identifier
hi def link hapaxSetting     Statement
hi def link hapaxOperator    Operator
hi def link hapaxBoolean     Boolean
hi def link hapaxConstant    Constant
hi def link hapaxFunction    Function
hi def link hapaxNumber      Number

let b:current_syntax = "hapax"
