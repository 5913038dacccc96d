using System.Diagnostics;
using System.Globalization;
using AttentionWise.Layers;
using AttentionWise.Training.IO;
using SkiaSharp;

namespace AttentionWise.Training.Data;

/// <summary>An image size H×W, written "HxW" on the command line and in config.json.</summary>
public readonly record struct ImageSize(int Height, int Width)
{
    /// <summary>Parses "HxW" (also "H×W"); null when the text is not two positive whole numbers.</summary>
    public static ImageSize? Parse(string? text)
    {
        if (text is null)
            return null;
        var parts = text.Trim().ToLowerInvariant().Split(['x', '×']);
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int h)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            || h < 1 || w < 1 || h > ImageFolder.MaxSide || w > ImageFolder.MaxSide)
            return null;
        return new ImageSize(h, w);
    }

    public override string ToString() => FormattableString.Invariant($"{Height}x{Width}");
}

/// <summary>How an image folder is read.</summary>
/// <param name="Channels">1 (grayscale) or 3 (RGB); null: 1 when every image is stored as grayscale, else 3.</param>
/// <param name="Resize">Every image is resized to this size; null: the images must all have one size.</param>
/// <param name="ValSplit">With no test folder: this fraction of each training class (a fixed-seed choice) is the test set.</param>
public sealed record ImageFolderOptions(int? Channels = null, ImageSize? Resize = null, double? ValSplit = null);

/// <summary>How long the decoding took.</summary>
public sealed record ImageLoadReport(string Directory, int Images, double Seconds)
{
    public double ImagesPerSecond => Seconds > 0 ? Images / Seconds : double.PositiveInfinity;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Directory}: decoded {Images:N0} images in {Seconds:0.00} s ({ImagesPerSecond:N0} images/s)");
}

/// <summary>
/// A data set of image files in class folders: DIR/train/&lt;class&gt;/*.png|*.jpg and DIR/test/&lt;class&gt;/…, or only
/// DIR/train with a fixed-seed validation split. Class names are the folder names (ordinal order), the class index
/// their position. Images are decoded with SkiaSharp (PNG and JPEG), once, in parallel; every file's header is
/// read first, and a file that is not PNG or JPEG, is larger than <see cref="MaxSide"/> pixels a side or
/// <see cref="MaxPixels"/> pixels in all, or whose size differs from the others' (without a resize) is refused by
/// name before any image is decoded.
/// </summary>
public static partial class ImageFolder
{
    public const string TrainFolder = "train";
    public const string TestFolder = "test";

    /// <summary>The largest side a header may announce.</summary>
    public const int MaxSide = 8192;

    /// <summary>The most pixels one image may have (H·W).</summary>
    public const long MaxPixels = 1L << 24;

    /// <summary>The largest file read.</summary>
    public const long MaxFileBytes = 64L << 20;

    /// <summary>The seed of the validation split: fixed, so that every run and `aw eval` see the same split.</summary>
    public const ulong SplitSeed = 0x56414C5F53504CUL;

    /// <summary>Whether <paramref name="directory"/> looks like an image folder (it has a train subfolder).</summary>
    public static bool Looks(string? directory) =>
        directory is not null && Directory.Exists(Path.Combine(directory, TrainFolder));

    /// <summary>Reads the training and test sets.</summary>
    /// <param name="directory">The folder with train/ (and test/).</param>
    /// <param name="options">Channels, resize and validation split.</param>
    /// <param name="testOnly">Decode only the test set (the training set is returned empty): for `aw eval`.</param>
    /// <param name="loaded">Receives the load report (images decoded, seconds) once the images are decoded.</param>
    /// <exception cref="DatasetException">Anything is missing or wrong; the message names the file or folder.</exception>
    public static DatasetSplit Load(string directory, ImageFolderOptions options, bool testOnly = false, Action<ImageLoadReport>? loaded = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Channels is not (null or 1 or 3))
            throw new DatasetException($"--channels must be 1 or 3, not {options.Channels}.");
        if (options.ValSplit is double f && !(f > 0 && f < 1))
            throw new DatasetException(FormattableString.Invariant($"--val-split must be a fraction between 0 and 1 (exclusive), not {f}."));
        if (!Directory.Exists(directory))
            throw new DatasetNotFoundException($"{directory}: no such image folder (expected {Path.Combine(directory, TrainFolder)}/<class>/*.png|*.jpg).");
        string trainDir = Path.Combine(directory, TrainFolder);
        string testDir = Path.Combine(directory, TestFolder);
        if (!Directory.Exists(trainDir))
            throw new DatasetNotFoundException($"{trainDir}: missing; an image folder holds {TrainFolder}/<class>/*.png|*.jpg (and {TestFolder}/<class>/…, or use --val-split).");
        var classes = ClassFolders(trainDir);
        if (classes.Count < 2)
        {
            throw new DatasetException(classes.Count == 0
                ? $"{trainDir}: holds no class folders; expected {trainDir}/<class>/*.png|*.jpg for at least two classes."
                : $"{trainDir}: holds a single class ('{classes[0]}'); a classifier needs at least two class folders.");
        }
        bool hasTest = Directory.Exists(testDir);
        if (hasTest && options.ValSplit is not null)
            throw new DatasetException($"{testDir}: the folder has a test set, so --val-split does not apply; leave it out, or remove the test folder.");
        if (!hasTest && options.ValSplit is null)
            throw new DatasetException($"{directory}: there is no {TestFolder} folder; add {testDir}/<class>/… or give --val-split F to hold out a fraction of the training images.");

        var trainFiles = Files(trainDir, classes);
        List<(string Path, int Label)> testFiles;
        if (hasTest)
        {
            var testClasses = ClassFolders(testDir);
            if (testClasses.FirstOrDefault(c => !classes.Contains(c)) is string extra)
                throw new DatasetException($"{Path.Combine(testDir, extra)}: class '{extra}' has no training folder in {trainDir}; the test classes must be training classes.");
            if (testClasses.Count == 0)
                throw new DatasetException($"{testDir}: holds no class folders; expected {testDir}/<class>/*.png|*.jpg.");
            testFiles = Files(testDir, testClasses).Select(t => (t.Path, classes.IndexOf(testClasses[t.Label]))).ToList();
        }
        else
        {
            (trainFiles, testFiles) = Split(trainFiles, classes.Count, options.ValSplit!.Value);
        }

        var all = testOnly ? testFiles : trainFiles.Concat(testFiles).ToList();
        var clock = Stopwatch.StartNew();
        var headers = Headers(all.Select(f => f.Path).ToList());
        int channels = options.Channels ?? (headers.All(h => h.Gray) ? 1 : 3);
        ImageSize size;
        if (options.Resize is ImageSize r)
        {
            size = r;
        }
        else
        {
            size = new ImageSize(headers[0].Height, headers[0].Width);
            int other = Array.FindIndex(headers, h => h.Height != size.Height || h.Width != size.Width);
            if (other >= 0)
            {
                throw new DatasetException(FormattableString.Invariant(
                    $"{all[other].Path}: the image is {headers[other].Height}x{headers[other].Width} pixels but {all[0].Path} is {size.Height}x{size.Width}; images of different sizes need --resize HxW."));
            }
        }
        long item = (long)channels * size.Height * size.Width;
        if (item * all.Count > Array.MaxLength)
            throw new DatasetException(FormattableString.Invariant($"{directory}: {all.Count:N0} images of {channels}x{size} are more than one array holds; use --resize to a smaller size."));

        var pixels = new float[item * all.Count];
        var errors = new string?[all.Count];
        Parallel.For(0, all.Count, i =>
        {
            try
            {
                Decode(all[i].Path, channels, size, options.Resize is not null, pixels.AsSpan((int)(i * item), (int)item));
            }
            catch (DatasetException e)
            {
                errors[i] = e.Message;
            }
        });
        if (errors.FirstOrDefault(e => e is not null) is string error)
            throw new DatasetException(error);
        var report = new ImageLoadReport(directory, all.Count, clock.Elapsed.TotalSeconds);
        loaded?.Invoke(report);

        int trainCount = testOnly ? 0 : trainFiles.Count;
        var names = classes.AsReadOnly();
        var train = new Dataset("image-folder train", pixels[..(int)(trainCount * item)], trainFiles.Take(trainCount).Select(t => t.Label).ToArray(),
            channels, size.Height, size.Width, names);
        var test = new Dataset("image-folder test", pixels[(int)(trainCount * item)..], testFiles.Select(t => t.Label).ToArray(),
            channels, size.Height, size.Width, names);
        return new DatasetSplit(train, test);
    }

    /// <summary>Reads one image as the model expects it: <paramref name="channels"/> planes of <paramref name="size"/>,
    /// resized when <paramref name="resize"/>, else refused when of another size (`aw predict`).</summary>
    public static float[] ReadImage(string path, int channels, ImageSize size, bool resize)
    {
        var header = Header(path);
        if (!resize && (header.Height != size.Height || header.Width != size.Width))
        {
            throw new DatasetException(FormattableString.Invariant(
                $"{path}: the image is {header.Height}x{header.Width} pixels but the model takes {size.Height}x{size.Width} (it was trained without --resize)."));
        }
        var result = new float[channels * size.Height * size.Width];
        Decode(path, channels, size, resize, result);
        return result;
    }

    /// <summary>The files a list of images and folders names, in order: a folder gives its image files, found
    /// recursively and in ordinal order (hidden files left out).</summary>
    public static List<string> Expand(IEnumerable<string> paths)
    {
        var result = new List<string>();
        foreach (var p in paths)
        {
            if (Directory.Exists(p))
            {
                var files = Directory.EnumerateFiles(p, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden })
                    .Where(f => !Path.GetFileName(f).StartsWith('.') && IsImageName(f))
                    .Order(StringComparer.Ordinal).ToList();
                if (files.Count == 0)
                    throw new DatasetException($"{p}: the folder holds no .png, .jpg or .jpeg files.");
                result.AddRange(files);
            }
            else
            {
                result.Add(p);
            }
        }
        return result;
    }

    private static bool IsImageName(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".png" or ".jpg" or ".jpeg";

    private static List<string> ClassFolders(string dir)
    {
        try
        {
            return Directory.EnumerateDirectories(dir).Select(d => Path.GetFileName(d)!).Where(n => !n.StartsWith('.'))
                .Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"{dir}: cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Every file of every class folder (hidden ones left out), class by class, in ordinal order.</summary>
    private static List<(string Path, int Label)> Files(string dir, List<string> classes)
    {
        var result = new List<(string, int)>();
        for (int c = 0; c < classes.Count; c++)
        {
            string folder = Path.Combine(dir, classes[c]);
            List<string> files;
            try
            {
                files = Directory.EnumerateFileSystemEntries(folder).Where(f => !Path.GetFileName(f).StartsWith('.'))
                    .Order(StringComparer.Ordinal).ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new DatasetException($"{folder}: cannot be read: {e.Message}", e);
            }
            if (files.Count == 0)
                throw new DatasetException($"{folder}: the class folder '{classes[c]}' is empty; every class needs at least one image (or remove the folder).");
            result.AddRange(files.Select(f => (f, c)));
        }
        return result;
    }

    /// <summary>A fixed-seed split of each class: round(fraction · count) images (at least one, and at least one left
    /// for training) go to the test set, in file order.</summary>
    private static (List<(string, int)> Train, List<(string, int)> Test) Split(List<(string Path, int Label)> files, int classes, double fraction)
    {
        var train = new List<(string, int)>();
        var test = new List<(string, int)>();
        for (int c = 0; c < classes; c++)
        {
            var members = files.Where(f => f.Label == c).ToArray();
            if (members.Length < 2)
                throw new DatasetException($"{Path.GetDirectoryName(members[0].Path)}: one image cannot be split into training and validation images; --val-split needs at least two per class.");
            int held = Math.Clamp((int)Math.Round(fraction * members.Length, MidpointRounding.AwayFromZero), 1, members.Length - 1);
            var order = Enumerable.Range(0, members.Length).ToArray();
            new Rng(SplitSeed + (ulong)c).Shuffle(order);
            var chosen = new HashSet<int>(order.Take(held));
            for (int i = 0; i < members.Length; i++)
                (chosen.Contains(i) ? test : train).Add(members[i]);
        }
        return (train, test);
    }
}
