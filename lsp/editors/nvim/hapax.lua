-- Hapax (.hapax policy files) for Neovim 0.9+.
--
-- Use either:
--   dofile("/path/to/hapax/lsp/editors/nvim/hapax.lua")            -- in init.lua
-- or copy this file to ~/.config/nvim/lua/hapax.lua and:
--   require("hapax").setup({ cmd = { "/opt/hapax/bin/hapax", "lsp" } })  -- opts optional
--
-- It registers the `hapax` filetype, sets `commentstring`, and starts (or re-attaches to)
-- the `hapax lsp` language server for every hapax buffer. Loading the file applies the
-- defaults; calling setup() again replaces them.

local M = {}

M.defaults = {
  cmd = { "hapax", "lsp" },
  root_markers = { ".git", "policies" },
}

-- When loaded from the repo (or with the nvim/ folder copied whole), put this folder on
-- 'runtimepath' so syntax/hapax.vim is found too.
local src = debug.getinfo(1, "S").source
if src:sub(1, 1) == "@" then
  local dir = vim.fs.dirname(vim.fs.normalize(src:sub(2)))
  if dir and (vim.uv or vim.loop).fs_stat(dir .. "/syntax/hapax.vim") and not vim.tbl_contains(vim.opt.runtimepath:get(), dir) then
    vim.opt.runtimepath:append(dir)
  end
end

function M.setup(opts)
  opts = vim.tbl_deep_extend("force", M.defaults, opts or {})

  vim.filetype.add({ extension = { hapax = "hapax" } })

  local group = vim.api.nvim_create_augroup("hapax", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = "hapax",
    callback = function(args)
      vim.bo[args.buf].commentstring = "# %s"
      vim.bo[args.buf].comments = ":#"
      local path = vim.api.nvim_buf_get_name(args.buf)
      local found = vim.fs.find(opts.root_markers, {
        upward = true,
        path = path ~= "" and vim.fs.dirname(path) or vim.fn.getcwd(),
      })[1]
      vim.lsp.start({
        name = "hapax",
        cmd = opts.cmd,
        root_dir = vim.fs.dirname(found) or vim.fn.getcwd(),
      }, { bufnr = args.buf })
    end,
  })
end

M.setup()

return M
