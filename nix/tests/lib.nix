# A stand-in for the part of nixpkgs' lib that this project's modules use, so
# that they can be evaluated with a Nix that cannot evaluate nixpkgs. It
# follows lib/modules.nix and lib/types.nix in behaviour, not in code: options
# with defaults, readOnly and apply; types that check each definition and
# merge them; mkIf, mkMerge, mkDefault, mkForce and mkAfter; modules with
# imports and freeform submodules; the evaluated options (isDefined,
# definitions, files, highestPrio) that renamed options read; the types'
# descriptions the manual shows. What it does not know it refuses, rather
# than guess.
let
  inherit (builtins)
    all
    attrNames
    concatMap
    concatStringsSep
    elem
    filter
    foldl'
    functionArgs
    head
    intersectAttrs
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    match
    sort
    substring
    stringLength
    tail
    typeOf
    ;

  lib = rec {
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalString = cond: s: if cond then s else "";
    optionalAttrs = cond: attrs: if cond then attrs else { };
    mapAttrs = builtins.mapAttrs;
    filterAttrs =
      pred: attrs:
      removeAttrs attrs (filter (n: !(pred n attrs.${n})) (attrNames attrs));
    mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (attrNames attrs);
    genAttrs =
      names: f:
      listToAttrs (
        map (n: {
          name = n;
          value = f n;
        }) names
      );
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    last = l: builtins.elemAt l (length l - 1);
    inherit concatStringsSep;
    hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
    splitString =
      sep: s:
      if sep != "." then
        throw "splitString: only \".\" is known here"
      else
        filter isString (builtins.split "\\." s);
    removePrefix =
      prefix: s: if hasPrefix prefix s then substring (stringLength prefix) (-1) s else s;
    toIntBase10 =
      s:
      let
        m = match "0*([0-9]+)" s;
      in
      if m == null then throw "toIntBase10: not a decimal number: ${s}" else builtins.fromJSON (head m);
    escapeShellArg =
      arg:
      let
        s = toString arg;
      in
      if match "[[:alnum:],._+:@%/-]+" s == null then
        "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] s}'"
      else
        s;
    escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);
    getExe = pkg: "${pkg}/bin/${pkg.meta.mainProgram}";
    isDerivation = v: isAttrs v && v.type or null == "derivation";
    isStringLike = v: isString v || isPath v || (isAttrs v && (v ? outPath || v ? __toString));
    showOption = concatStringsSep ".";
    showFiles = files: concatStringsSep " and " (map (f: "`${f}'") files);
    setAttrByPath =
      path: value: if path == [ ] then value else { ${head path} = setAttrByPath (tail path) value; };
    attrByPath =
      path: default: set:
      if path == [ ] then
        set
      else if isAttrs set && set ? ${head path} then
        attrByPath (tail path) default set.${head path}
      else
        default;
    getAttrFromPath =
      path: set:
      attrByPath path (throw "cannot find attribute `${concatStringsSep "." path}'") set;
    versionAtLeast = v: w: builtins.compareVersions v w >= 0;

    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    literalMD = text: {
      _type = "literalMD";
      inherit text;
    };

    isType = t: v: isAttrs v && v._type or null == t;

    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    mkOverride = priority: content: {
      _type = "override";
      inherit priority content;
    };
    mkOptionDefault = mkOverride 1500;
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
    mkOrder = priority: content: {
      _type = "order";
      inherit priority content;
    };
    mkAfter = mkOrder 1500;

    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption =
      name:
      mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = "Whether to enable ${name}.";
      };
    mkPackageOption =
      pkgs: name:
      {
        default ? name,
        extraDescription ? "",
        ...
      }:
      mkOption {
        type = types.package;
        default = pkgs.${default};
        defaultText = literalExpression "pkgs.${default}";
        description = "The ${name} package to use. ${extraDescription}";
      };

    # A definition as the plain values it stands for: mkMerge spreads, mkIf
    # keeps or drops. Conditions are evaluated here, at the option, and not
    # before, so that a module may make its whole config depend on its options.
    dischargeProperties =
      v:
      if isType "merge" v then
        concatMap dischargeProperties v.contents
      else if isType "if" v then
        if !isBool v.condition then
          throw "mkIf called with a non-Boolean condition"
        else if v.condition then
          dischargeProperties v.content
        else
          [ ]
      else
        [ v ];

    # An attribute set definition as a list of attribute sets whose values
    # carry the properties that wrapped the whole.
    pushDownProperties =
      v:
      if isType "merge" v then
        concatMap pushDownProperties v.contents
      else if isType "if" v then
        map (mapAttrs (_: mkIf v.condition)) (pushDownProperties v.content)
      else if isType "override" v then
        map (mapAttrs (_: mkOverride v.priority)) (pushDownProperties v.content)
      else
        [ v ];

    pushDown =
      loc: defs:
      concatMap (
        d:
        map (
          value:
          if isAttrs value then
            {
              inherit (d) file;
              inherit value;
            }
          else
            throw "The option `${showOption loc}' (in ${d.file}) is not an attribute set of options."
        ) (pushDownProperties d.value)
      ) defs;

    definitionsOf =
      name: defs:
      concatMap (
        d:
        optional (d.value ? ${name}) {
          inherit (d) file;
          value = d.value.${name};
        }
      ) defs;

    showValue =
      v:
      if isString v then
        ''"${v}"''
      else if isInt v || isBool v || v == null then
        builtins.toJSON v
      else
        "a ${typeOf v}";

    # defs: [ { file; value; } ]. The result says whether anything was
    # defined, so that attrsOf and listOf can drop members under a false mkIf.
    mergeDefinitions =
      loc: type: defs:
      let
        discharged = concatMap (
          d:
          map (value: {
            inherit (d) file;
            inherit value;
          }) (dischargeProperties d.value)
        ) defs;
        priority = d: if isType "override" d.value then d.value.priority else 100;
        highest = foldl' (p: d: if priority d < p then priority d else p) 9999 discharged;
        kept = map (d: if isType "override" d.value then d // { value = d.value.content; } else d) (
          filter (d: priority d == highest) discharged
        );
        order = d: if isType "order" d.value then d.value.priority else 1000;
        sorted = map (d: if isType "order" d.value then d // { value = d.value.content; } else d) (
          sort (a: b: order a < order b) kept
        );
        bad = filter (d: !type.check d.value) sorted;
      in
      {
        isDefined = sorted != [ ];
        defsFinal = sorted;
        highestPrio = highest;
        value =
          if sorted == [ ] then
            throw "The option `${showOption loc}' is used but not defined."
          else if bad != [ ] then
            throw "A definition for option `${showOption loc}' is not of type `${type.name}': ${showValue (head bad).value} (in ${(head bad).file})."
          else
            type.merge loc sorted;
      };

    # The option as lib/modules.nix evaluates it: the declaration, with its
    # value and what defined it.
    evalOption =
      loc: opt: defs:
      let
        type = opt.type or types.unspecified;
        defs' =
          optional (opt ? default) {
            file = "the default of ${showOption loc}";
            value = mkOptionDefault opt.default;
          }
          ++ defs;
        merged = mergeDefinitions loc type defs';
        value =
          if opt.readOnly or false && length defs' > 1 then
            throw "The option `${showOption loc}' is read-only, but it's set multiple times."
          else
            merged.value;
      in
      opt
      // {
        inherit type;
        value = if opt ? apply then opt.apply value else value;
        inherit (merged) isDefined highestPrio;
        definitions = map (d: d.value) merged.defsFinal;
        files = unique (map (d: d.file) merged.defsFinal);
      };

    # lib/modules.nix's renamed options: the old option's definitions go to
    # the new one with their priority, and reading the old one reads the new.
    mkAliasAndWrapDefsWithPriority =
      wrap: option:
      mkIf option.isDefined (wrap (mkMerge (map (mkOverride option.highestPrio) option.definitions)));

    doRename =
      {
        from,
        to,
        visible,
        warn,
        use,
      }:
      { config, options, ... }:
      let
        fromOpt = getAttrFromPath from options;
        toOf = attrByPath to (throw "Renaming error: option `${showOption to}' does not exist.");
      in
      {
        options = setAttrByPath from (mkOption {
          inherit visible;
          description = "Alias of {option}`${showOption to}`.";
          apply = _: use (toOf config);
        });
        config = mkMerge [
          {
            warnings = optional (
              warn && fromOpt.isDefined
            ) "The option `${showOption from}' defined in ${showFiles fromOpt.files} has been renamed to `${showOption to}'.";
          }
          (mkAliasAndWrapDefsWithPriority (setAttrByPath to) fromOpt)
        ];
      };
    mkRenamedOptionModule =
      from: to:
      doRename {
        inherit from to;
        visible = false;
        warn = true;
        use = x: x;
      };

    mergeEqualOption =
      loc: defs:
      let
        first = (head defs).value;
      in
      if all (d: d.value == first) (tail defs) then
        first
      else
        throw "The option `${showOption loc}' has conflicting definition values, in ${
          concatStringsSep " and " (map (d: d.file) defs)
        }.";

    types = rec {
      # With the description and its class that the manual shows, as
      # lib/types.nix words them.
      mkOptionType =
        {
          name,
          description ? null,
          descriptionClass ? null,
          check ? (_: true),
          merge ? mergeEqualOption,
        }:
        {
          _type = "option-type";
          inherit name check merge descriptionClass;
          description = if description == null then name else description;
        };

      # lib/types.nix's optionDescriptionPhrase: a type's description, in
      # parentheses unless its class reads unambiguously where it goes.
      phrase =
        unparenthesize: t:
        if unparenthesize (t.descriptionClass or null) then t.description else "(${t.description})";

      addCheck = type: check: type // { check = v: type.check v && check v; };

      bool = mkOptionType {
        name = "bool";
        description = "boolean";
        descriptionClass = "noun";
        check = isBool;
      };
      str = mkOptionType {
        name = "str";
        description = "string";
        descriptionClass = "noun";
        check = isString;
      };
      lines = mkOptionType {
        name = "lines";
        description = "strings concatenated with ${builtins.toJSON "\n"}";
        descriptionClass = "noun";
        check = isString;
        merge = loc: defs: concatStringsSep "\n" (map (d: d.value) defs);
      };
      int = mkOptionType {
        name = "int";
        description = "signed integer";
        descriptionClass = "noun";
        check = isInt;
      };
      ints = {
        between =
          lowest: highest:
          addCheck int (x: x >= lowest && x <= highest)
          // {
            description = "integer between ${toString lowest} and ${toString highest} (both inclusive)";
          };
        positive = addCheck int (x: x > 0) // {
          description = "positive integer, meaning >0";
          descriptionClass = "nonRestrictiveClause";
        };
        unsigned = addCheck int (x: x >= 0) // {
          name = "unsignedInt";
          description = "unsigned integer, meaning >=0";
          descriptionClass = "nonRestrictiveClause";
        };
      };
      strMatching =
        pattern:
        mkOptionType {
          name = "strMatching ${builtins.toJSON pattern}";
          description = "string matching the pattern ${pattern}";
          descriptionClass = "noun";
          check = x: isString x && match pattern x != null;
        };
      path = mkOptionType {
        name = "path";
        descriptionClass = "noun";
        check = x: isStringLike x && substring 0 1 (toString x) == "/";
      };
      package = mkOptionType {
        name = "package";
        descriptionClass = "noun";
        check = isDerivation;
      };
      raw = mkOptionType {
        name = "raw";
        description = "raw value";
        descriptionClass = "noun";
        merge =
          loc: defs:
          if length defs == 1 then
            (head defs).value
          else
            throw "The option `${showOption loc}' is defined more than once.";
      };
      unspecified = mkOptionType {
        name = "unspecified";
        description = "unspecified value";
        descriptionClass = "noun";
      };

      nullOr =
        type:
        mkOptionType {
          name = "null or ${type.name}";
          description = "null or ${phrase (c: c == "noun" || c == "conjunction") type}";
          descriptionClass = "conjunction";
          check = x: x == null || type.check x;
          merge =
            loc: defs:
            let
              nulls = filter (d: d.value == null) defs;
            in
            if length nulls == length defs then
              null
            else if nulls != [ ] then
              throw "The option `${showOption loc}' is defined both null and not null."
            else
              type.merge loc defs;
        };

      either =
        a: b:
        mkOptionType {
          name = "${a.name} or ${b.name}";
          description =
            if a.descriptionClass or null == "nonRestrictiveClause" then
              "${a.description}, or ${phrase (c: c == "noun" || c == "conjunction") b}"
            else
              "${phrase (c: c == "noun" || c == "conjunction") a} or ${
                phrase (c: c == "noun" || c == "conjunction" || c == "composite") b
              }";
          descriptionClass = "conjunction";
          check = x: a.check x || b.check x;
          merge =
            loc: defs:
            if all (d: a.check d.value) defs then
              a.merge loc defs
            else if all (d: b.check d.value) defs then
              b.merge loc defs
            else
              mergeEqualOption loc defs;
        };

      listOf =
        type:
        mkOptionType {
          name = "list of ${type.name}";
          description = "list of ${phrase (c: c == "noun" || c == "composite") type}";
          descriptionClass = "composite";
          check = isList;
          merge =
            loc: defs:
            concatMap (
              d:
              concatMap (
                x:
                let
                  r = mergeDefinitions (loc ++ [ "[]" ]) type [
                    {
                      inherit (d) file;
                      value = x;
                    }
                  ];
                in
                optional r.isDefined r.value
              ) d.value
            ) defs;
        };
      nonEmptyListOf =
        type:
        let
          list = addCheck (listOf type) (l: l != [ ]);
        in
        list // { description = "non-empty ${phrase (c: c == "noun") list}"; };

      attrsOf =
        type:
        mkOptionType {
          name = "attribute set of ${type.name}";
          description = "attribute set of ${phrase (c: c == "noun" || c == "composite") type}";
          descriptionClass = "composite";
          check = isAttrs;
          merge =
            loc: defs:
            listToAttrs (
              concatMap (
                n:
                let
                  r = mergeDefinitions (loc ++ [ n ]) type (definitionsOf n defs);
                in
                optional r.isDefined {
                  name = n;
                  value = r.value;
                }
              ) (unique (concatMap (d: attrNames d.value) defs))
            );
        };

      anything = mkOptionType {
        name = "anything";
        descriptionClass = "noun";
        merge =
          loc: defs:
          if all (d: isAttrs d.value && !(isStringLike d.value)) defs then
            (attrsOf anything).merge loc defs
          else
            mergeEqualOption loc defs;
      };

      submoduleWith =
        { modules }:
        mkOptionType {
          name = "submodule";
          # A freeform submodule is described by its freeform type.
          description =
            (evalModules {
              inherit modules;
              specialArgs.name = "<name>";
            }).freeformType.description or "submodule";
          check = x: isAttrs x || isFunction x;
        }
        // {
          getSubOptions =
            prefix:
            (evalModules {
              inherit modules prefix;
              specialArgs.name = "<name>";
            }).options;
          merge =
            loc: defs:
            (evalModules {
              modules =
                modules
                # As types.submodule does (shorthandOnlyDefinesConfig), an
                # attribute set defines config, so a definition may set an
                # option named config.
                ++ map (
                  d:
                  if isAttrs d.value then
                    {
                      _file = d.file;
                      config = d.value;
                    }
                  else
                    {
                      _file = d.file;
                      imports = [ d.value ];
                    }
                ) defs;
              prefix = loc;
              specialArgs.name = last loc;
            }).config;
        };
      submodule = module: submoduleWith { modules = [ module ]; };
    };

    # Merges option declarations from several modules into one tree.
    mergeOptionTrees =
      loc: a: b:
      a
      // mapAttrs (
        n: v:
        if !(a ? ${n}) then
          v
        else if isType "option" v || isType "option" a.${n} then
          throw "The option `${showOption (loc ++ [ n ])}' is declared twice."
        else
          mergeOptionTrees (loc ++ [ n ]) a.${n} v
      ) b;

    evalModules =
      {
        modules,
        prefix ? [ ],
        specialArgs ? { },
      }:
      let
        # As in lib/modules.nix, specialArgs may bring a lib of its own (Home
        # Manager's, with lib.hm).
        args = {
          inherit lib;
        }
        // specialArgs
        // {
          inherit config options;
        };

        # Every module with its imports, each as { file, options, config,
        # freeformType }.
        collect =
          file: m:
          let
            f = if isPath m then import m else m;
            file' = if isPath m then toString m else file;
            v =
              if isFunction f then
                f (if functionArgs f == { } then args else intersectAttrs (functionArgs f) args)
              else
                f;
            full = v ? config || v ? options;
            known = [
              "_file"
              "key"
              "imports"
              "options"
              "config"
              "meta"
              "freeformType"
            ];
            unknown = filter (n: !(elem n known)) (attrNames v);
            module = {
              file = v._file or file';
              options = v.options or { };
              config =
                if !full then
                  removeAttrs v known // optionalAttrs (v ? meta) { inherit (v) meta; }
                else if unknown != [ ] then
                  throw "Module ${file'} has an unsupported attribute `${head unknown}'."
                else
                  mkMerge ([ (v.config or { }) ] ++ optional (v ? meta) { inherit (v) meta; });
              freeformType = v.freeformType or null;
            };
          in
          [ module ] ++ concatMap (collect module.file) (v.imports or [ ]);

        collected = concatMap (collect "<unknown file>") modules;
        declarations = foldl' (mergeOptionTrees prefix) { } (map (m: m.options) collected);
        freeformTypes = filter (t: t != null) (map (m: m.freeformType) collected);

        # { config, options } of a subtree: its values, and its options as
        # evaluated. Which options there are depends on the declarations
        # alone, so that modules may read options without a cycle.
        evalTree =
          loc: decl: defs:
          if isType "option" decl then
            let
              option = evalOption loc decl defs;
            in
            {
              config = option.value;
              options = option;
            }
          else
            let
              pushed = pushDown loc defs;
              declared = attrNames decl;
              undeclared = filter (n: !(decl ? ${n})) (unique (concatMap (d: attrNames d.value) pushed));
              freeform =
                if undeclared == [ ] then
                  { }
                else if loc == prefix && freeformTypes != [ ] then
                  (head freeformTypes).merge loc (map (d: d // { value = removeAttrs d.value declared; }) pushed)
                else
                  throw "The option `${showOption (loc ++ [ (head undeclared) ])}' does not exist.";
              children = genAttrs declared (n: evalTree (loc ++ [ n ]) decl.${n} (definitionsOf n pushed));
            in
            {
              config = freeform // mapAttrs (_: c: c.config) children;
              options = mapAttrs (_: c: c.options) children;
            };

        evaluated = evalTree prefix declarations (
          map (m: {
            inherit (m) file;
            value = m.config;
          }) collected
        );
        inherit (evaluated) config options;
      in
      {
        inherit config options;
        freeformType = if freeformTypes == [ ] then null else head freeformTypes;
      };
  };
in
lib
