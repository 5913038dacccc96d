using System.Buffers.Binary;
using System.IO.Hashing;
using AttentionWise.Training;
using AttentionWise.Training.Data;
using SkiaSharp;

namespace AttentionWise.Tests.Data;

/// <summary>Synthetic image folders: each class a bright band in another place (top, bottom, left, …) on noise.</summary>
internal static class ImageFolders
{
    public static readonly string[] Classes = ["bottom", "left", "top"];

    /// <summary>The bytes (C×H×W) of image <paramref name="index"/> of class <paramref name="label"/>.</summary>
    public static byte[] Pixels(int label, int index, int channels, int size)
    {
        var rng = new Random(label * 7919 + index);
        var bytes = new byte[channels * size * size];
        for (int c = 0; c < channels; c++)
        {
            for (int i = 0; i < size; i++)
            {
                for (int j = 0; j < size; j++)
                {
                    bool band = label switch
                    {
                        0 => i >= size / 2,
                        1 => j < size / 2,
                        _ => i < size / 2,
                    };
                    int v = (band ? 180 : 40) + rng.Next(-30, 30) + (channels == 3 ? 20 * c : 0);
                    bytes[(c * size + i) * size + j] = (byte)Math.Clamp(v, 0, 255);
                }
            }
        }
        return bytes;
    }

    /// <summary>Writes DIR/train/&lt;class&gt;/NNN.png (and DIR/test/… when <paramref name="test"/> is above 0).</summary>
    public static void Write(string dir, int train, int test, int channels = 1, int size = 8)
    {
        for (int c = 0; c < Classes.Length; c++)
        {
            foreach (var (split, count, offset) in new[] { (ImageFolder.TrainFolder, train, 0), (ImageFolder.TestFolder, test, 1000) })
            {
                if (count == 0)
                    continue;
                string folder = Path.Combine(dir, split, Classes[c]);
                Directory.CreateDirectory(folder);
                for (int n = 0; n < count; n++)
                    ImageFolder.WritePng(Path.Combine(folder, $"{n:D3}.png"), channels, size, size, Pixels(c, offset + n, channels, size));
            }
        }
    }

    /// <summary>A PNG whose header announces <paramref name="height"/>×<paramref name="width"/> pixels (and holds no image data).</summary>
    public static void WriteHugeHeader(string path, int height, int width)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth; colour type 0 (gray), no interlace
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10]);
        Chunk(file, "IHDR", ihdr);
        Chunk(file, "IDAT", [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        Chunk(file, "IEND", []);
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        s.Write(length);
        var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(body);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.HashToUInt32(body));
        s.Write(crc);
    }
}

/// <summary>Reading image folders: class names, channels, resize, the validation split, and every bad input refused by name.</summary>
public class ImageFolderTests
{
    private static DatasetSplit Load(string dir, ImageFolderOptions? options = null) => ImageFolder.Load(dir, options ?? new ImageFolderOptions());

    private static string Refused(string dir, ImageFolderOptions? options = null)
    {
        var e = Assert.ThrowsAny<DatasetException>(() => Load(dir, options));
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Fact]
    public void ClassNamesLabelsAndPixelsComeFromTheFolders()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, train: 4, test: 2);
        var (train, test) = Load(dir.Path);
        Assert.Equal(ImageFolders.Classes, train.ClassNames);
        Assert.Equal(ImageFolders.Classes, test.ClassNames);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], train.Labels);
        Assert.Equal([0, 0, 1, 1, 2, 2], test.Labels);
        Assert.Equal((1, 8, 8), (train.Channels, train.Height, train.Width));
        // Image 5 is left/001.png: every pixel byte / 255.
        var expected = ImageFolders.Pixels(1, 1, 1, 8).Select(b => b / 255f).ToArray();
        Assert.Equal(expected, train.Images.AsSpan(5 * 64, 64).ToArray());
    }

    [Fact]
    public void GrayscaleAndRgbAreDetectedAndCanBeForced()
    {
        using var gray = new TempDir();
        ImageFolders.Write(gray.Path, 2, 1, channels: 1);
        using var rgb = new TempDir();
        ImageFolders.Write(rgb.Path, 2, 1, channels: 3);
        Assert.Equal(1, Load(gray.Path).Train.Channels);
        var color = Load(rgb.Path).Train;
        Assert.Equal(3, color.Channels);
        var bytes = ImageFolders.Pixels(0, 0, 3, 8);
        Assert.Equal(bytes.Select(b => b / 255f).ToArray(), color.Images.AsSpan(0, 192).ToArray());

        // Grayscale as RGB: the plane three times; RGB as grayscale: BT.601 luma.
        var replicated = Load(gray.Path, new ImageFolderOptions(Channels: 3)).Train;
        Assert.Equal(3, replicated.Channels);
        var plane = replicated.Images.AsSpan(0, 64).ToArray();
        Assert.Equal(plane, replicated.Images.AsSpan(64, 64).ToArray());
        Assert.Equal(plane, replicated.Images.AsSpan(128, 64).ToArray());
        var luma = Load(rgb.Path, new ImageFolderOptions(Channels: 1)).Train;
        Assert.Equal(1, luma.Channels);
        float expected = (byte)Math.Round(0.299 * bytes[0] + 0.587 * bytes[64] + 0.114 * bytes[128]) / 255f;
        Assert.Equal(expected, luma.Images[0]);
    }

    [Fact]
    public void ImagesOfDifferentSizesNeedAResize()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, 2, 1);
        string odd = Path.Combine(dir.Path, "train", "left", "big.png");
        ImageFolder.WritePng(odd, 1, 12, 10, new byte[120]);
        string message = Refused(dir.Path);
        Assert.Contains(odd, message);
        Assert.Contains("12x10", message);
        Assert.Contains("--resize", message);

        var resized = Load(dir.Path, new ImageFolderOptions(Resize: new ImageSize(6, 5))).Train;
        Assert.Equal((6, 5), (resized.Height, resized.Width));
        Assert.Equal(7, resized.Count);
        Assert.All(resized.Images, v => Assert.InRange(v, 0f, 1f));
        // A uniform image stays uniform when resized.
        ImageFolder.WritePng(odd, 1, 12, 10, Enumerable.Repeat((byte)200, 120).ToArray());
        var uniform = Load(dir.Path, new ImageFolderOptions(Resize: new ImageSize(6, 5))).Train;
        int index = Array.IndexOf(["000.png", "001.png", "big.png"], "big.png") + 2;
        Assert.All(uniform.Images.AsSpan(index * 30, 30).ToArray(), v => Assert.Equal(200 / 255f, v, 1e-6f));
    }

    [Fact]
    public void TheValidationSplitIsFixedAndStratified()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, train: 10, test: 0);
        Assert.Contains("--val-split", Refused(dir.Path));
        var a = Load(dir.Path, new ImageFolderOptions(ValSplit: 0.3));
        var b = Load(dir.Path, new ImageFolderOptions(ValSplit: 0.3));
        Assert.Equal(a.Train.Images, b.Train.Images);
        Assert.Equal(a.Test.Images, b.Test.Images);
        Assert.Equal(a.Test.Labels, b.Test.Labels);
        Assert.Equal([3, 3, 3], a.Test.ClassCounts());
        Assert.Equal([7, 7, 7], a.Train.ClassCounts());
        // No image is in both.
        var trainRows = Enumerable.Range(0, a.Train.Count).Select(i => string.Join(",", a.Train.Images.AsSpan(i * 64, 64).ToArray())).ToHashSet();
        Assert.All(Enumerable.Range(0, a.Test.Count), i => Assert.DoesNotContain(string.Join(",", a.Test.Images.AsSpan(i * 64, 64).ToArray()), trainRows));
        // Not simply the first files of each class.
        var firsts = Enumerable.Range(0, 3).Select(c => string.Join(",", ImageFolders.Pixels(c, 0, 1, 8).Select(x => x / 255f))).ToList();
        var held = Enumerable.Range(0, a.Test.Count).Select(i => string.Join(",", a.Test.Images.AsSpan(i * 64, 64).ToArray())).ToList();
        Assert.False(firsts.All(held.Contains), "the split took the first file of every class");

        ImageFolders.Write(dir.Path, 0, 1);
        Assert.Contains("does not apply", Refused(dir.Path, new ImageFolderOptions(ValSplit: 0.3)));
    }

    [Fact]
    public void ACorruptImageIsRefusedByName()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, 2, 1);
        string bad = Path.Combine(dir.Path, "train", "top", "bad.png");
        File.WriteAllBytes(bad, Enumerable.Range(0, 300).Select(i => (byte)(i * 37)).ToArray());
        Assert.Contains(bad, Refused(dir.Path));
    }

    [Fact]
    public void ATruncatedImageIsRefusedByName()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, 2, 1, size: 32);
        string cut = Path.Combine(dir.Path, "test", "left", "000.png");
        // A noisy image compresses poorly, so that half the file is half the pixels.
        var noise = new byte[32 * 32];
        new Random(3).NextBytes(noise);
        ImageFolder.WritePng(cut, 1, 32, 32, noise);
        var bytes = File.ReadAllBytes(cut);
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        string message = Refused(dir.Path);
        Assert.Contains(cut, message);
        Assert.Contains("truncated", message);
    }

    [Fact]
    public void AnUnsupportedFormatIsRefusedByName()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, 2, 1);
        string webp = Path.Combine(dir.Path, "train", "bottom", "x.webp");
        using (var bitmap = new SKBitmap(new SKImageInfo(8, 8, SKColorType.Rgba8888)))
        using (var data = bitmap.Encode(SKEncodedImageFormat.Webp, 90))
            File.WriteAllBytes(webp, data.ToArray());
        string message = Refused(dir.Path);
        Assert.Contains(webp, message);
        Assert.Contains("only PNG and JPEG", message);

        File.Delete(webp);
        string text = Path.Combine(dir.Path, "train", "bottom", "notes.txt");
        File.WriteAllText(text, "not an image");
        Assert.Contains(text, Refused(dir.Path));
    }

    [Fact]
    public void AnEmptyClassOrASingleClassIsRefused()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, 2, 1);
        string empty = Path.Combine(dir.Path, "train", "zebra");
        Directory.CreateDirectory(empty);
        string message = Refused(dir.Path);
        Assert.Contains(empty, message);
        Assert.Contains("empty", message);

        using var single = new TempDir();
        Directory.CreateDirectory(Path.Combine(single.Path, "train", "only"));
        ImageFolder.WritePng(Path.Combine(single.Path, "train", "only", "a.png"), 1, 4, 4, new byte[16]);
        Directory.CreateDirectory(Path.Combine(single.Path, "test", "only"));
        Assert.Contains("single class ('only')", Refused(single.Path));
    }

    [Fact]
    public void AnUnreadableFileIsRefusedByName()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, 2, 1);
        string dangling = Path.Combine(dir.Path, "train", "top", "gone.png");
        File.CreateSymbolicLink(dangling, Path.Combine(dir.Path, "nowhere.png"));
        string message = Refused(dir.Path);
        Assert.Contains(dangling, message);
        Assert.Contains("cannot be read", message);
        File.Delete(dangling);

        string fifo = Path.Combine(dir.Path, "train", "top", "pipe.png");
        AttentionWise.Tests.Training.Hostile.MakeFifo(fifo);
        var fifoMessage = AttentionWise.Tests.Training.Hostile.Within(TimeSpan.FromSeconds(30), () => Refused(dir.Path));
        Assert.Contains(fifo, fifoMessage);
        Assert.Contains("FIFO", fifoMessage);
    }

    [Fact]
    public void AHugeImageIsRefusedFromItsHeader()
    {
        using var dir = new TempDir();
        ImageFolders.Write(dir.Path, 2, 1);
        string huge = Path.Combine(dir.Path, "train", "left", "huge.png");
        ImageFolders.WriteHugeHeader(huge, 100_000, 100_000);
        string message = Refused(dir.Path);
        Assert.Contains(huge, message);
        Assert.Contains("100000x100000", message);
        Assert.Contains("before decoding", message);
    }

    [Fact]
    public void RunSettingsOfAnImageFolderRoundTripThroughJson()
    {
        var settings = new RunSettings
        {
            Dataset = Datasets.ImageFolderName, DataDirectory = "d", Epochs = 1, BatchSize = 4, LearningRate = 1e-3f, Seed = 1,
            Channels = 3, Resize = "16x16", ValSplit = 0.25, ClassNames = ["cat", "dog"],
        };
        Assert.Empty(settings.Problems());
        var back = RunSettings.FromJson(settings.ToJson());
        Assert.Equal(settings, back);
        Assert.Equal(["cat", "dog"], back.ClassNames);
        Assert.NotEmpty((settings with { Resize = "16" }).Problems());
        Assert.NotEmpty((settings with { ClassNames = ["cat"] }).Problems());
        Assert.NotEmpty((settings with { Dataset = Datasets.FashionMnistName }).Problems());
    }
}
